/*
 * test_attack.c - the ATT&CK name tables (attack.c): lookups of known and unknown ids,
 * tactic membership, slugs, full names, and the table invariants (sorted ids for the binary
 * search, well-formed ids, sub-techniques with their parent's tactics, tactic bits that
 * name real tactics).
 */
#include "attack.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

static bool digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

/* T0000 or T0000.000 */
static bool well_formed_id(const char *id)
{
    size_t n = strlen(id);
    if (n != 5 && n != 9)
        return false;
    if (id[0] != 'T' || !digits(id + 1, 4))
        return false;
    return n == 5 || (id[5] == '.' && digits(id + 6, 3));
}

static void test_version(void)
{
    CHECK_STR(th__attack_version(), TH_ATTACK_VERSION);
    CHECK_STR(th__attack_version(), "16.1");
    CHECK_STR(TH_ATTACK_LAYER_VERSION, "4.5");
    CHECK_STR(TH_ATTACK_NAVIGATOR_VERSION, "5.1.0");
    CHECK_STR(TH_ATTACK_DOMAIN, "enterprise-attack");
}

static void test_tactics(void)
{
    static const char *const order[][3] = {
        {"TA0043", "Reconnaissance", "reconnaissance"},
        {"TA0042", "Resource Development", "resource-development"},
        {"TA0001", "Initial Access", "initial-access"},
        {"TA0002", "Execution", "execution"},
        {"TA0003", "Persistence", "persistence"},
        {"TA0004", "Privilege Escalation", "privilege-escalation"},
        {"TA0005", "Defense Evasion", "defense-evasion"},
        {"TA0006", "Credential Access", "credential-access"},
        {"TA0007", "Discovery", "discovery"},
        {"TA0008", "Lateral Movement", "lateral-movement"},
        {"TA0009", "Collection", "collection"},
        {"TA0011", "Command and Control", "command-and-control"},
        {"TA0010", "Exfiltration", "exfiltration"},
        {"TA0040", "Impact", "impact"},
    };
    CHECK_INT(th__tactic_count(), 14);
    CHECK_INT(TH_TA_COUNT, 14);
    for (size_t i = 0; i < 14; i++) {
        const struct th_tactic *t = th__tactic_at(i);
        CHECK(t != NULL);
        if (!t)
            continue;
        CHECK_STR(t->id, order[i][0]);
        CHECK_STR(t->name, order[i][1]);
        CHECK_STR(t->shortname, order[i][2]);
        CHECK_INT(t->index, i);
        CHECK(th__tactic_find(order[i][0]) == t);
        CHECK(th__tactic_by_slug(order[i][2]) == t);
        /* The shortname is the slug of the name. */
        char slug[64];
        th__attack_slug(t->name, slug, sizeof slug);
        CHECK_STR(slug, t->shortname);
    }
    CHECK(th__tactic_at(14) == NULL);
    CHECK(th__tactic_at((size_t)-1) == NULL);

    const struct th_tactic *ca = th__tactic_find("TA0006");
    CHECK(ca != NULL);
    CHECK_STR(ca ? ca->name : NULL, "Credential Access");
    CHECK_STR(ca ? ca->shortname : NULL, "credential-access");

    /* Unknown, mistyped, partial, padded, wrong case, NULL. */
    CHECK(th__tactic_find("TA0012") == NULL); /* no such tactic */
    CHECK(th__tactic_find("TA0041") == NULL);
    CHECK(th__tactic_find("ta0006") == NULL);
    CHECK(th__tactic_find("TA006") == NULL);
    CHECK(th__tactic_find("TA00066") == NULL);
    CHECK(th__tactic_find("TA0006 ") == NULL);
    CHECK(th__tactic_find("") == NULL);
    CHECK(th__tactic_find(NULL) == NULL);
    CHECK(th__tactic_by_slug("Credential Access") == NULL);
    CHECK(th__tactic_by_slug("credential_access") == NULL);
    CHECK(th__tactic_by_slug("credential-acces") == NULL);
    CHECK(th__tactic_by_slug("") == NULL);
    CHECK(th__tactic_by_slug(NULL) == NULL);

    /* Slices: the id inside a tag value, without a NUL after it. */
    const char *tag = "TA0006-credential-access";
    CHECK(th__tactic_find_n(tag, 6) == ca);
    CHECK(th__tactic_find_n(tag, 5) == NULL);
    CHECK(th__tactic_find_n(tag, 7) == NULL);
    CHECK(th__tactic_by_slug_n(tag + 7, strlen(tag + 7)) == ca);
    CHECK(th__tactic_by_slug_n(tag + 7, 10) == NULL);
    CHECK(th__tactic_find_n(NULL, 0) == NULL);
}

static void test_lookups(void)
{
    const struct th_technique *t = th__technique_find("T1552");
    CHECK(t != NULL);
    CHECK_STR(t ? t->name : NULL, "Unsecured Credentials");
    CHECK(t && !th__technique_is_sub(t));
    CHECK(t && th__technique_parent(t) == NULL);

    const struct th_technique *s = th__technique_find("T1552.005");
    CHECK(s != NULL);
    CHECK_STR(s ? s->name : NULL, "Cloud Instance Metadata API");
    CHECK(s && th__technique_is_sub(s));
    CHECK(s && th__technique_parent(s) == t);

    /* The ids the shipped rules lean on, with their v16.1 names. */
    static const char *const known[][2] = {
        {"T1078", "Valid Accounts"},
        {"T1078.004", "Cloud Accounts"},
        {"T1098.001", "Additional Cloud Credentials"},
        {"T1098.003", "Additional Cloud Roles"},
        {"T1136.003", "Cloud Account"},
        {"T1484.002", "Trust Modification"},
        {"T1496.001", "Compute Hijacking"},
        {"T1530", "Data from Cloud Storage"},
        {"T1535", "Unused/Unsupported Cloud Regions"},
        {"T1537", "Transfer Data to Cloud Account"},
        {"T1555.006", "Cloud Secrets Management Stores"},
        {"T1562.007", "Disable or Modify Cloud Firewall"},
        {"T1562.008", "Disable or Modify Cloud Logs"},
        {"T1578.005", "Modify Cloud Compute Configurations"},
        {"T1580", "Cloud Infrastructure Discovery"},
        {"T1619", "Cloud Storage Object Discovery"},
        {"T1621", "Multi-Factor Authentication Request Generation"},
        {"T1648", "Serverless Execution"},
        {"T1651", "Cloud Administration Command"},
        {"T1666", "Modify Cloud Resource Hierarchy"},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        const struct th_technique *k = th__technique_find(known[i][0]);
        CHECK(k != NULL);
        CHECK_STR(k ? k->id : NULL, known[i][0]);
        CHECK_STR(k ? k->name : NULL, known[i][1]);
    }

    /* The first and last entries are reachable (binary search bounds). */
    const struct th_technique *first = th__technique_at(0);
    const struct th_technique *last = th__technique_at(th__technique_count() - 1);
    CHECK(first && th__technique_find(first->id) == first);
    CHECK(last && th__technique_find(last->id) == last);
    CHECK(th__technique_at(th__technique_count()) == NULL);

    /* Unknown: deprecated (T1089), not carried (T1003), sub-technique that does not exist,
     * malformed, wrong case, padded, NULL. */
    CHECK(th__technique_find("T1089") == NULL);
    CHECK(th__technique_find("T1003") == NULL);
    CHECK(th__technique_find("T1552.099") == NULL);
    CHECK(th__technique_find("T1078.4") == NULL);
    CHECK(th__technique_find("T1078.0040") == NULL);
    CHECK(th__technique_find("t1552") == NULL);
    CHECK(th__technique_find("T1552 ") == NULL);
    CHECK(th__technique_find("T155") == NULL);
    CHECK(th__technique_find("T0000") == NULL);
    CHECK(th__technique_find("T9999") == NULL);
    CHECK(th__technique_find("") == NULL);
    CHECK(th__technique_find(NULL) == NULL);
    CHECK(th__technique_find_n(NULL, 3) == NULL);

    /* Slices. */
    const char *tag = "T1552.005-cloud-instance-metadata-api";
    CHECK(th__technique_find_n(tag, 9) == s);
    CHECK(th__technique_find_n(tag, 5) == t);
    CHECK(th__technique_find_n(tag, 6) == NULL);
    CHECK(th__technique_find_n(tag, 10) == NULL);
}

static void test_membership(void)
{
    const struct th_technique *va = th__technique_find("T1078");
    CHECK(va != NULL);
    if (!va)
        return;
    CHECK(th__technique_in_tactic(va, "TA0001"));
    CHECK(th__technique_in_tactic(va, "TA0003"));
    CHECK(th__technique_in_tactic(va, "TA0004"));
    CHECK(th__technique_in_tactic(va, "TA0005"));
    CHECK(!th__technique_in_tactic(va, "TA0006"));
    CHECK(!th__technique_in_tactic(va, "TA0040"));
    CHECK(!th__technique_in_tactic(va, "TA9999"));
    CHECK(!th__technique_in_tactic(va, NULL));
    CHECK(!th__technique_in_tactic(NULL, "TA0001"));

    /* Tactics come back in matrix order, however the table spells them. */
    const struct th_tactic *out[8];
    size_t n = th__technique_tactics(va, out, 8);
    CHECK_INT(n, 4);
    CHECK_STR(out[0]->id, "TA0001");
    CHECK_STR(out[1]->id, "TA0003");
    CHECK_STR(out[2]->id, "TA0004");
    CHECK_STR(out[3]->id, "TA0005");
    /* A short buffer gets the first ones and the full count. */
    const struct th_tactic *one[1] = {NULL};
    CHECK_INT(th__technique_tactics(va, one, 1), 4);
    CHECK_STR(one[0]->id, "TA0001");
    CHECK_INT(th__technique_tactics(va, NULL, 0), 4);

    const struct th_technique *cloud = th__technique_find("T1078.004");
    CHECK(cloud && cloud->tactics == va->tactics);

    static const struct {
        const char *technique, *tactic;
        bool member;
    } cases[] = {
        {"T1552.005", "TA0006", true},  {"T1552.005", "TA0007", false},
        {"T1562.008", "TA0005", true},  {"T1562.008", "TA0040", false},
        {"T1098.001", "TA0003", true},  {"T1098.001", "TA0004", true},
        {"T1098.001", "TA0005", false}, {"T1136.003", "TA0003", true},
        {"T1136.003", "TA0004", false}, {"T1537", "TA0010", true},
        {"T1530", "TA0009", true},      {"T1580", "TA0007", true},
        {"T1496.004", "TA0040", true},  {"T1556.006", "TA0006", true},
        {"T1556.006", "TA0005", true},  {"T1556.006", "TA0003", true},
        {"T1484.002", "TA0004", true},  {"T1484.002", "TA0005", true},
        {"T1550.001", "TA0008", true},  {"T1040", "TA0007", true},
        {"T1040", "TA0006", true},      {"T1610", "TA0002", true},
        {"T1090.003", "TA0011", true},  {"T1595.003", "TA0043", true},
        {"T1585.003", "TA0042", true},  {"T1666", "TA0005", true},
        {"T1666", "TA0040", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct th_technique *t = th__technique_find(cases[i].technique);
        CHECK(t != NULL);
        bool got = th__technique_in_tactic(t, cases[i].tactic);
        if (got != cases[i].member)
            fprintf(stderr, "  %s in %s: expected %d\n", cases[i].technique, cases[i].tactic,
                    cases[i].member);
        CHECK(got == cases[i].member);
    }
    CHECK(th__technique_has_tactic(va, TH_TA_INITIAL_ACCESS));
    CHECK(!th__technique_has_tactic(va, TH_TA_IMPACT));
    CHECK(!th__technique_has_tactic(va, TH_TA_COUNT));
}

static void test_names(void)
{
    char buf[128];
    const struct th_technique *s = th__technique_find("T1078.004");
    CHECK_INT(th__technique_full_name(s, buf, sizeof buf), 30);
    CHECK_STR(buf, "Valid Accounts: Cloud Accounts");
    th__technique_full_name(th__technique_find("T1078"), buf, sizeof buf);
    CHECK_STR(buf, "Valid Accounts");
    th__technique_full_name(th__technique_find("T1562.008"), buf, sizeof buf);
    CHECK_STR(buf, "Impair Defenses: Disable or Modify Cloud Logs");
    th__technique_full_name(th__technique_find("T1484.002"), buf, sizeof buf);
    CHECK_STR(buf, "Domain or Tenant Policy Modification: Trust Modification");

    /* Truncation: NUL-terminated, full length returned; size 0 writes nothing. */
    char small[8];
    memset(small, 'x', sizeof small);
    CHECK_INT(th__technique_full_name(s, small, sizeof small), 30);
    CHECK_STR(small, "Valid A");
    char one = 'x';
    CHECK_INT(th__technique_full_name(s, &one, 1), 30);
    CHECK_INT(one, '\0');
    CHECK_INT(th__technique_full_name(s, NULL, 0), 30);
    /* Cut inside the separator. */
    char cut[17];
    th__technique_full_name(s, cut, sizeof cut);
    CHECK_STR(cut, "Valid Accounts: ");

    /* Slugs. */
    CHECK_INT(th__attack_slug("Unsecured Credentials", buf, sizeof buf), 21);
    CHECK_STR(buf, "unsecured-credentials");
    th__attack_slug("Unused/Unsupported Cloud Regions", buf, sizeof buf);
    CHECK_STR(buf, "unused-unsupported-cloud-regions");
    th__attack_slug("Multi-hop Proxy", buf, sizeof buf);
    CHECK_STR(buf, "multi-hop-proxy");
    th__attack_slug("Cloud Instance Metadata API", buf, sizeof buf);
    CHECK_STR(buf, "cloud-instance-metadata-api");
    th__attack_slug("  --Search Open Websites/Domains!! ", buf, sizeof buf);
    CHECK_STR(buf, "search-open-websites-domains");
    CHECK_INT(th__attack_slug("", buf, sizeof buf), 0);
    CHECK_STR(buf, "");
    CHECK_INT(th__attack_slug("/ /", buf, sizeof buf), 0);
    CHECK_STR(buf, "");
    memset(small, 'x', sizeof small);
    CHECK_INT(th__attack_slug("Unsecured Credentials", small, sizeof small), 21);
    CHECK_STR(small, "unsecur");
    CHECK_INT(th__attack_slug("Abc Def", NULL, 0), 7);
}

/* The invariants every entry must keep; a bad edit of the table fails here. */
static void test_table(void)
{
    size_t n = th__technique_count();
    CHECK(n >= 80 && n <= 200);
    const uint16_t all = (uint16_t)((1u << TH_TA_COUNT) - 1);
    uint16_t seen = 0;
    size_t subs = 0;
    for (size_t i = 0; i < n; i++) {
        const struct th_technique *t = th__technique_at(i);
        CHECK(t != NULL);
        if (!t)
            continue;
        if (!well_formed_id(t->id))
            fprintf(stderr, "  malformed id '%s'\n", t->id);
        CHECK(well_formed_id(t->id));
        /* Strictly ascending: sorted for the binary search, and no duplicates. */
        if (i > 0) {
            const struct th_technique *prev = th__technique_at(i - 1);
            if (strcmp(prev->id, t->id) >= 0)
                fprintf(stderr, "  out of order: %s before %s\n", prev->id, t->id);
            CHECK(strcmp(prev->id, t->id) < 0);
        }
        CHECK(th__technique_find(t->id) == t);
        /* A name, without stray blanks. */
        size_t len = strlen(t->name);
        CHECK(len > 0 && t->name[0] != ' ' && t->name[len - 1] != ' ');
        CHECK(strstr(t->name, "  ") == NULL);
        /* At least one tactic, and only tactics that exist. */
        CHECK(t->tactics != 0);
        if ((t->tactics & ~all) != 0)
            fprintf(stderr, "  %s names a tactic bit outside the table\n", t->id);
        CHECK((t->tactics & ~all) == 0);
        const struct th_tactic *ts[TH_TA_COUNT];
        size_t nt = th__technique_tactics(t, ts, TH_TA_COUNT);
        CHECK(nt >= 1 && nt <= 4);
        for (size_t k = 0; k < nt && k < TH_TA_COUNT; k++) {
            CHECK(th__tactic_find(ts[k]->id) == ts[k]);
            CHECK(th__technique_in_tactic(t, ts[k]->id));
        }
        seen |= t->tactics;
        /* A sub-technique follows its parent and inherits its tactics. */
        if (th__technique_is_sub(t)) {
            subs++;
            const struct th_technique *p = th__technique_parent(t);
            if (!p)
                fprintf(stderr, "  %s has no parent in the table\n", t->id);
            CHECK(p != NULL);
            if (p && p->tactics != t->tactics)
                fprintf(stderr, "  %s tactics differ from %s\n", t->id, p->id);
            CHECK(p && p->tactics == t->tactics);
            CHECK(p && p < t);
        }
    }
    /* Every tactic has at least one technique, so coverage tables have no empty column. */
    CHECK_INT(seen, all);
    CHECK(subs > 0 && subs < n);
}

int main(void)
{
    test_version();
    test_tactics();
    test_lookups();
    test_membership();
    test_names();
    test_table();
    return CHECK_DONE();
}
