/*
 * attack.c - the ATT&CK Enterprise v16.1 name tables: the 14 tactics in matrix order and
 * the cloud-relevant techniques and sub-techniques, one static const array sorted by id so
 * lookups are a binary search. No state, no allocation.
 *
 * Source of truth: the ATT&CK v16.1 STIX data (mitre/cti, enterprise-attack). Names are the
 * objects' `name`, tactics their `kill_chain_phases`. A sub-technique lists exactly its
 * parent's tactics (the unit test checks it). The table covers every technique of the IaaS
 * platform, the cloud-relevant ones of SaaS and Identity Provider, container techniques
 * (EKS/ECS), and the pre-compromise techniques a cloud rule may name; techniques that only
 * make sense on an endpoint (registry, LSASS, ...) are left out on purpose.
 *
 * To move to another ATT&CK release: change TH_ATTACK_VERSION and the Navigator versions in
 * attack.h, then check every line below against that release (renamed techniques, moved
 * tactics, new sub-techniques) and keep the array sorted by id.
 */
#include "attack.h"

#include <string.h>

static const struct th_tactic tactics[TH_TA_COUNT] = {
    {"TA0043", "Reconnaissance", "reconnaissance", TH_TA_RECONNAISSANCE},
    {"TA0042", "Resource Development", "resource-development", TH_TA_RESOURCE_DEVELOPMENT},
    {"TA0001", "Initial Access", "initial-access", TH_TA_INITIAL_ACCESS},
    {"TA0002", "Execution", "execution", TH_TA_EXECUTION},
    {"TA0003", "Persistence", "persistence", TH_TA_PERSISTENCE},
    {"TA0004", "Privilege Escalation", "privilege-escalation", TH_TA_PRIVILEGE_ESCALATION},
    {"TA0005", "Defense Evasion", "defense-evasion", TH_TA_DEFENSE_EVASION},
    {"TA0006", "Credential Access", "credential-access", TH_TA_CREDENTIAL_ACCESS},
    {"TA0007", "Discovery", "discovery", TH_TA_DISCOVERY},
    {"TA0008", "Lateral Movement", "lateral-movement", TH_TA_LATERAL_MOVEMENT},
    {"TA0009", "Collection", "collection", TH_TA_COLLECTION},
    {"TA0011", "Command and Control", "command-and-control", TH_TA_COMMAND_AND_CONTROL},
    {"TA0010", "Exfiltration", "exfiltration", TH_TA_EXFILTRATION},
    {"TA0040", "Impact", "impact", TH_TA_IMPACT},
};

/* Tactic bits, short enough to keep one technique per line. */
#define RECON (1u << TH_TA_RECONNAISSANCE)
#define RESDEV (1u << TH_TA_RESOURCE_DEVELOPMENT)
#define INIT (1u << TH_TA_INITIAL_ACCESS)
#define EXEC (1u << TH_TA_EXECUTION)
#define PERSIST (1u << TH_TA_PERSISTENCE)
#define PRIVESC (1u << TH_TA_PRIVILEGE_ESCALATION)
#define EVASION (1u << TH_TA_DEFENSE_EVASION)
#define CREDS (1u << TH_TA_CREDENTIAL_ACCESS)
#define DISCOV (1u << TH_TA_DISCOVERY)
#define LATERAL (1u << TH_TA_LATERAL_MOVEMENT)
#define COLLECT (1u << TH_TA_COLLECTION)
#define C2 (1u << TH_TA_COMMAND_AND_CONTROL)
#define EXFIL (1u << TH_TA_EXFILTRATION)
#define IMPACT (1u << TH_TA_IMPACT)

/* Sorted by id (strcmp order, which is numeric order for these fixed-width ids). */
static const struct th_technique techniques[] = {
    {"T1020", "Automated Exfiltration", EXFIL},
    {"T1021", "Remote Services", LATERAL},
    {"T1021.004", "SSH", LATERAL},
    {"T1021.007", "Cloud Services", LATERAL},
    {"T1021.008", "Direct Cloud VM Connections", LATERAL},
    {"T1040", "Network Sniffing", CREDS | DISCOV},
    {"T1046", "Network Service Discovery", DISCOV},
    {"T1048", "Exfiltration Over Alternative Protocol", EXFIL},
    {"T1049", "System Network Connections Discovery", DISCOV},
    {"T1059", "Command and Scripting Interpreter", EXEC},
    {"T1059.009", "Cloud API", EXEC},
    {"T1069", "Permission Groups Discovery", DISCOV},
    {"T1069.003", "Cloud Groups", DISCOV},
    {"T1070", "Indicator Removal", EVASION},
    {"T1074", "Data Staged", COLLECT},
    {"T1074.002", "Remote Data Staging", COLLECT},
    {"T1078", "Valid Accounts", INIT | PERSIST | PRIVESC | EVASION},
    {"T1078.001", "Default Accounts", INIT | PERSIST | PRIVESC | EVASION},
    {"T1078.004", "Cloud Accounts", INIT | PERSIST | PRIVESC | EVASION},
    {"T1082", "System Information Discovery", DISCOV},
    {"T1087", "Account Discovery", DISCOV},
    {"T1087.004", "Cloud Account", DISCOV},
    {"T1090", "Proxy", C2},
    {"T1090.002", "External Proxy", C2},
    {"T1090.003", "Multi-hop Proxy", C2},
    {"T1098", "Account Manipulation", PERSIST | PRIVESC},
    {"T1098.001", "Additional Cloud Credentials", PERSIST | PRIVESC},
    {"T1098.003", "Additional Cloud Roles", PERSIST | PRIVESC},
    {"T1098.004", "SSH Authorized Keys", PERSIST | PRIVESC},
    {"T1098.006", "Additional Container Cluster Roles", PERSIST | PRIVESC},
    {"T1110", "Brute Force", CREDS},
    {"T1110.001", "Password Guessing", CREDS},
    {"T1110.002", "Password Cracking", CREDS},
    {"T1110.003", "Password Spraying", CREDS},
    {"T1110.004", "Credential Stuffing", CREDS},
    {"T1119", "Automated Collection", COLLECT},
    {"T1133", "External Remote Services", INIT | PERSIST},
    {"T1136", "Create Account", PERSIST},
    {"T1136.003", "Cloud Account", PERSIST},
    {"T1190", "Exploit Public-Facing Application", INIT},
    {"T1195", "Supply Chain Compromise", INIT},
    {"T1195.002", "Compromise Software Supply Chain", INIT},
    {"T1199", "Trusted Relationship", INIT},
    {"T1201", "Password Policy Discovery", DISCOV},
    {"T1204", "User Execution", EXEC},
    {"T1204.003", "Malicious Image", EXEC},
    {"T1211", "Exploitation for Defense Evasion", EVASION},
    {"T1213", "Data from Information Repositories", COLLECT},
    {"T1213.003", "Code Repositories", COLLECT},
    {"T1484", "Domain or Tenant Policy Modification", PRIVESC | EVASION},
    {"T1484.002", "Trust Modification", PRIVESC | EVASION},
    {"T1485", "Data Destruction", IMPACT},
    {"T1486", "Data Encrypted for Impact", IMPACT},
    {"T1489", "Service Stop", IMPACT},
    {"T1490", "Inhibit System Recovery", IMPACT},
    {"T1491", "Defacement", IMPACT},
    {"T1491.002", "External Defacement", IMPACT},
    {"T1496", "Resource Hijacking", IMPACT},
    {"T1496.001", "Compute Hijacking", IMPACT},
    {"T1496.002", "Bandwidth Hijacking", IMPACT},
    {"T1496.003", "SMS Pumping", IMPACT},
    {"T1496.004", "Cloud Service Hijacking", IMPACT},
    {"T1498", "Network Denial of Service", IMPACT},
    {"T1498.001", "Direct Network Flood", IMPACT},
    {"T1498.002", "Reflection Amplification", IMPACT},
    {"T1499", "Endpoint Denial of Service", IMPACT},
    {"T1499.001", "OS Exhaustion Flood", IMPACT},
    {"T1499.002", "Service Exhaustion Flood", IMPACT},
    {"T1499.003", "Application Exhaustion Flood", IMPACT},
    {"T1499.004", "Application or System Exploitation", IMPACT},
    {"T1518", "Software Discovery", DISCOV},
    {"T1518.001", "Security Software Discovery", DISCOV},
    {"T1525", "Implant Internal Image", PERSIST},
    {"T1526", "Cloud Service Discovery", DISCOV},
    {"T1528", "Steal Application Access Token", CREDS},
    {"T1530", "Data from Cloud Storage", COLLECT},
    {"T1531", "Account Access Removal", IMPACT},
    {"T1535", "Unused/Unsupported Cloud Regions", EVASION},
    {"T1537", "Transfer Data to Cloud Account", EXFIL},
    {"T1538", "Cloud Service Dashboard", DISCOV},
    {"T1539", "Steal Web Session Cookie", CREDS},
    {"T1546", "Event Triggered Execution", PERSIST | PRIVESC},
    {"T1548", "Abuse Elevation Control Mechanism", PRIVESC | EVASION},
    {"T1548.005", "Temporary Elevated Cloud Access", PRIVESC | EVASION},
    {"T1550", "Use Alternate Authentication Material", EVASION | LATERAL},
    {"T1550.001", "Application Access Token", EVASION | LATERAL},
    {"T1550.004", "Web Session Cookie", EVASION | LATERAL},
    {"T1552", "Unsecured Credentials", CREDS},
    {"T1552.001", "Credentials In Files", CREDS},
    {"T1552.005", "Cloud Instance Metadata API", CREDS},
    {"T1555", "Credentials from Password Stores", CREDS},
    {"T1555.006", "Cloud Secrets Management Stores", CREDS},
    {"T1556", "Modify Authentication Process", PERSIST | EVASION | CREDS},
    {"T1556.006", "Multi-Factor Authentication", PERSIST | EVASION | CREDS},
    {"T1556.007", "Hybrid Identity", PERSIST | EVASION | CREDS},
    {"T1556.009", "Conditional Access Policies", PERSIST | EVASION | CREDS},
    {"T1562", "Impair Defenses", EVASION},
    {"T1562.001", "Disable or Modify Tools", EVASION},
    {"T1562.007", "Disable or Modify Cloud Firewall", EVASION},
    {"T1562.008", "Disable or Modify Cloud Logs", EVASION},
    {"T1564", "Hide Artifacts", EVASION},
    {"T1564.008", "Email Hiding Rules", EVASION},
    {"T1566", "Phishing", INIT},
    {"T1566.002", "Spearphishing Link", INIT},
    {"T1567", "Exfiltration Over Web Service", EXFIL},
    {"T1567.002", "Exfiltration to Cloud Storage", EXFIL},
    {"T1578", "Modify Cloud Compute Infrastructure", EVASION},
    {"T1578.001", "Create Snapshot", EVASION},
    {"T1578.002", "Create Cloud Instance", EVASION},
    {"T1578.003", "Delete Cloud Instance", EVASION},
    {"T1578.004", "Revert Cloud Instance", EVASION},
    {"T1578.005", "Modify Cloud Compute Configurations", EVASION},
    {"T1580", "Cloud Infrastructure Discovery", DISCOV},
    {"T1583", "Acquire Infrastructure", RESDEV},
    {"T1583.003", "Virtual Private Server", RESDEV},
    {"T1583.006", "Web Services", RESDEV},
    {"T1583.007", "Serverless", RESDEV},
    {"T1584", "Compromise Infrastructure", RESDEV},
    {"T1584.003", "Virtual Private Server", RESDEV},
    {"T1584.006", "Web Services", RESDEV},
    {"T1584.007", "Serverless", RESDEV},
    {"T1585", "Establish Accounts", RESDEV},
    {"T1585.003", "Cloud Accounts", RESDEV},
    {"T1586", "Compromise Accounts", RESDEV},
    {"T1586.003", "Cloud Accounts", RESDEV},
    {"T1589", "Gather Victim Identity Information", RECON},
    {"T1589.001", "Credentials", RECON},
    {"T1589.002", "Email Addresses", RECON},
    {"T1593", "Search Open Websites/Domains", RECON},
    {"T1593.003", "Code Repositories", RECON},
    {"T1595", "Active Scanning", RECON},
    {"T1595.001", "Scanning IP Blocks", RECON},
    {"T1595.002", "Vulnerability Scanning", RECON},
    {"T1595.003", "Wordlist Scanning", RECON},
    {"T1606", "Forge Web Credentials", CREDS},
    {"T1606.001", "Web Cookies", CREDS},
    {"T1606.002", "SAML Tokens", CREDS},
    {"T1609", "Container Administration Command", EXEC},
    {"T1610", "Deploy Container", EXEC | EVASION},
    {"T1611", "Escape to Host", PRIVESC},
    {"T1613", "Container and Resource Discovery", DISCOV},
    {"T1614", "System Location Discovery", DISCOV},
    {"T1619", "Cloud Storage Object Discovery", DISCOV},
    {"T1621", "Multi-Factor Authentication Request Generation", CREDS},
    {"T1648", "Serverless Execution", EXEC},
    {"T1650", "Acquire Access", RESDEV},
    {"T1651", "Cloud Administration Command", EXEC},
    {"T1654", "Log Enumeration", DISCOV},
    {"T1657", "Financial Theft", IMPACT},
    {"T1666", "Modify Cloud Resource Hierarchy", EVASION},
};

#define NTECHNIQUES (sizeof techniques / sizeof techniques[0])

/* Compares len bytes at p with the NUL-terminated s, in strcmp order. */
static int cmp_n(const char *p, size_t len, const char *s)
{
    size_t slen = strlen(s);
    int r = memcmp(p, s, len < slen ? len : slen);
    if (r != 0)
        return r;
    return (len > slen) - (len < slen);
}

const char *th__attack_version(void)
{
    return TH_ATTACK_VERSION;
}

size_t th__tactic_count(void)
{
    return TH_TA_COUNT;
}

const struct th_tactic *th__tactic_at(size_t i)
{
    return i < TH_TA_COUNT ? &tactics[i] : NULL;
}

const struct th_tactic *th__tactic_find_n(const char *p, size_t len)
{
    if (!p)
        return NULL;
    for (size_t i = 0; i < TH_TA_COUNT; i++)
        if (cmp_n(p, len, tactics[i].id) == 0)
            return &tactics[i];
    return NULL;
}

const struct th_tactic *th__tactic_find(const char *id)
{
    return id ? th__tactic_find_n(id, strlen(id)) : NULL;
}

const struct th_tactic *th__tactic_by_slug_n(const char *p, size_t len)
{
    if (!p)
        return NULL;
    for (size_t i = 0; i < TH_TA_COUNT; i++)
        if (cmp_n(p, len, tactics[i].shortname) == 0)
            return &tactics[i];
    return NULL;
}

const struct th_tactic *th__tactic_by_slug(const char *slug)
{
    return slug ? th__tactic_by_slug_n(slug, strlen(slug)) : NULL;
}

size_t th__technique_count(void)
{
    return NTECHNIQUES;
}

const struct th_technique *th__technique_at(size_t i)
{
    return i < NTECHNIQUES ? &techniques[i] : NULL;
}

const struct th_technique *th__technique_find_n(const char *p, size_t len)
{
    if (!p)
        return NULL;
    size_t lo = 0, hi = NTECHNIQUES;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = cmp_n(p, len, techniques[mid].id);
        if (r == 0)
            return &techniques[mid];
        if (r < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const struct th_technique *th__technique_find(const char *id)
{
    return id ? th__technique_find_n(id, strlen(id)) : NULL;
}

bool th__technique_is_sub(const struct th_technique *t)
{
    return strchr(t->id, '.') != NULL;
}

const struct th_technique *th__technique_parent(const struct th_technique *t)
{
    const char *dot = strchr(t->id, '.');
    return dot ? th__technique_find_n(t->id, (size_t)(dot - t->id)) : NULL;
}

bool th__technique_in_tactic(const struct th_technique *t, const char *tactic_id)
{
    if (!t)
        return false;
    const struct th_tactic *ta = th__tactic_find(tactic_id);
    return ta && th__technique_has_tactic(t, ta->index);
}

size_t th__technique_tactics(const struct th_technique *t, const struct th_tactic **out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < TH_TA_COUNT; i++) {
        if (!th__technique_has_tactic(t, i))
            continue;
        if (n < cap)
            out[n] = &tactics[i];
        n++;
    }
    return n;
}

/* Appends s to buf (size bytes) at offset *len, truncating, and advances *len by strlen(s). */
static void put(char *buf, size_t size, size_t *len, const char *s)
{
    size_t n = strlen(s);
    if (*len + 1 < size) {
        size_t room = size - 1 - *len;
        memcpy(buf + *len, s, n < room ? n : room);
    }
    *len += n;
}

size_t th__technique_full_name(const struct th_technique *t, char *buf, size_t size)
{
    size_t len = 0;
    const struct th_technique *parent = th__technique_parent(t);
    if (parent) {
        put(buf, size, &len, parent->name);
        put(buf, size, &len, ": ");
    }
    put(buf, size, &len, t->name);
    if (size > 0)
        buf[len < size ? len : size - 1] = '\0';
    return len;
}

size_t th__attack_slug(const char *name, char *buf, size_t size)
{
    size_t len = 0;
    bool dash = false; /* a separator is pending: emit it before the next alnum */
    for (const char *p = name; *p; p++) {
        char c = *p;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) {
            dash = len > 0;
            continue;
        }
        if (dash) {
            if (len + 1 < size)
                buf[len] = '-';
            len++;
            dash = false;
        }
        if (len + 1 < size)
            buf[len] = c;
        len++;
    }
    if (size > 0)
        buf[len < size ? len : size - 1] = '\0';
    return len;
}
