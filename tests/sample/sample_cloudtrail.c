/*
 * sample_cloudtrail.c - CloudTrail record shapes for the sample generator: userIdentity
 * variants, the envelope every record shares (field order as CloudTrail writes it), and one
 * helper per API shape.
 *
 * Shapes follow real records: data events (S3, Lambda, DynamoDB) carry eventCategory Data and
 * managementEvent false; calls made by a service on someone's behalf carry invokedBy and the
 * service's name as sourceIPAddress and have no tlsDetails; client calls get tlsDetails with the
 * host they addressed; AwsConsoleSignIn and AwsServiceEvent records have no requestID.
 *
 * Ignores: fields that no rule reads and that vary little (apiVersion, sharedEventID,
 * addendum, edgeDeviceDetails).
 */
#include "sample_cloudtrail.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *const th__account_id[TH_NACCT] = {"111122223333", "444455556666", "777788889999"};
const char *const th__account_env[TH_NACCT] = {"prod", "dev", "security"};
const char *const th__region[TH_NREG] = {"us-east-1", "eu-west-1", "us-west-2"};
const char *const th__region_short[TH_NREG] = {"use1", "euw1", "usw2"};

/* ---- Identities ------------------------------------------------------------------------- */

void th__who_role(struct th__who *p, int a, const char *role, const char *session, int64_t created)
{
    const char *acct = th__account_id[a];
    bool sso = strncmp(role, "AWSReservedSSO_", 15) == 0;
    *p = (struct th__who){.type = "AssumedRole", .mfa = "false", .iss_type = "Role"};
    th__stable_id(p->iss_pid, "AROA", TH_B32, 17, "%s/%s", acct, role);
    snprintf(p->pid, sizeof p->pid, "%s:%s", p->iss_pid, session);
    snprintf(p->arn, sizeof p->arn, "arn:aws:sts::%s:assumed-role/%s/%s", acct, role, session);
    snprintf(p->acct, sizeof p->acct, "%s", acct);
    th__stable_id(p->key, "ASIA", TH_B32, 16, "%s/%s/%s/%lld", acct, role, session,
                  (long long)created);
    th__fmt_time(p->created, created);
    snprintf(p->iss_arn, sizeof p->iss_arn, "arn:aws:iam::%s:role/%s%s", acct,
             sso ? "aws-reserved/sso.amazonaws.com/" : "", role);
    snprintf(p->iss_user, sizeof p->iss_user, "%s", role);
}

void th__who_user(struct th__who *p, int a, const char *user, int64_t console)
{
    const char *acct = th__account_id[a];
    *p = (struct th__who){.type = "IAMUser"};
    th__stable_id(p->pid, "AIDA", TH_B32, 17, "%s/%s", acct, user);
    snprintf(p->arn, sizeof p->arn, "arn:aws:iam::%s:user/%s", acct, user);
    snprintf(p->acct, sizeof p->acct, "%s", acct);
    snprintf(p->user, sizeof p->user, "%s", user);
    if (!console) {
        th__stable_id(p->key, "AKIA", TH_B32, 16, "key/%s/%s", acct, user);
        return;
    }
    th__stable_id(p->key, "ASIA", TH_B32, 16, "%s/%s/%lld", acct, user, (long long)console);
    th__fmt_time(p->created, console);
    p->mfa = "true";
}

void th__who_root(struct th__who *p, int a, int64_t console)
{
    *p = (struct th__who){.type = "Root", .mfa = "true"};
    snprintf(p->pid, sizeof p->pid, "%s", th__account_id[a]);
    snprintf(p->arn, sizeof p->arn, "arn:aws:iam::%s:root", th__account_id[a]);
    snprintf(p->acct, sizeof p->acct, "%s", th__account_id[a]);
    th__stable_id(p->key, "ASIA", TH_B32, 16, "%s/root/%lld", th__account_id[a],
                  (long long)console);
    th__fmt_time(p->created, console);
}

void th__who_service(struct th__who *p, const char *service)
{
    *p = (struct th__who){.type = "AWSService", .invoked_by = service};
}

int64_t th__session_start(int64_t t, const char *role)
{
    unsigned off = 0;
    for (; *role; role++)
        off = off * 31 + (unsigned char)*role;
    off %= 3600;
    return t - ((t - off) % 3600);
}

static void write_who(struct th__jw *w, const struct th__who *p)
{
    th__jo(w, "userIdentity");
    if (p->type)
        th__js(w, "type", p->type);
    if (p->pid[0])
        th__js(w, "principalId", p->pid);
    if (p->arn[0])
        th__js(w, "arn", p->arn);
    if (p->acct[0])
        th__js(w, "accountId", p->acct);
    if (p->key[0])
        th__js(w, "accessKeyId", p->key);
    if (p->user[0])
        th__js(w, "userName", p->user);
    if (p->created[0]) {
        th__jo(w, "sessionContext");
        th__jo(w, "sessionIssuer");
        if (p->iss_type) {
            th__js(w, "type", p->iss_type);
            th__js(w, "principalId", p->iss_pid);
            th__js(w, "arn", p->iss_arn);
            th__js(w, "accountId", p->acct);
            th__js(w, "userName", p->iss_user);
        }
        th__je(w);
        th__jo(w, "webIdFederationData");
        th__je(w);
        th__jo(w, "attributes");
        th__js(w, "creationDate", p->created);
        th__js(w, "mfaAuthenticated", p->mfa);
        th__je(w);
        th__je(w);
    }
    if (p->invoked_by)
        th__js(w, "invokedBy", p->invoked_by);
    th__je(w);
}

/* ---- The envelope ------------------------------------------------------------------------- */

void th__add_res(struct th__call *c, const char *type, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->res[c->nres].arn, sizeof c->res[0].arn, fmt, ap);
    va_end(ap);
    c->res[c->nres++].type = type;
}

static bool is_global(const char *src)
{
    return !strcmp(src, "iam.amazonaws.com") || !strcmp(src, "signin.amazonaws.com") ||
           !strcmp(src, "health.amazonaws.com") || !strcmp(src, "ce.amazonaws.com");
}

/* A client's address (IPv4 here), as opposed to a service name or "AWS Internal". */
static bool is_client(const char *ip) { return ip[0] >= '0' && ip[0] <= '9'; }

struct th__jw *th__ev_begin(struct th__gen *g, const struct th__call *c)
{
    struct th__jw *w = &g->w;
    char ts[24];
    th__jw_reset(w);
    th__jo(w, NULL);
    th__js(w, "eventVersion", c->data || is_client(c->ip) ? "1.09" : "1.08");
    write_who(w, c->who);
    th__fmt_time(ts, c->t);
    th__js(w, "eventTime", ts);
    th__js(w, "eventSource", c->src);
    th__js(w, "eventName", c->name);
    th__js(w, "awsRegion", th__region[c->reg]);
    th__js(w, "sourceIPAddress", c->ip);
    if (c->ua)
        th__js(w, "userAgent", c->ua);
    if (c->err) {
        th__js(w, "errorCode", c->err);
        th__js(w, "errorMessage", c->errmsg);
    }
    return w;
}

static void write_tls(struct th__jw *w, const struct th__call *c)
{
    char host[128];
    bool browser = c->ua && !strncmp(c->ua, "Mozilla", 7);
    if (c->host)
        snprintf(host, sizeof host, "%s", c->host);
    else if (!strcmp(c->src, "signin.amazonaws.com"))
        snprintf(host, sizeof host, "signin.aws.amazon.com");
    else if (is_global(c->src))
        snprintf(host, sizeof host, "%s", c->src);
    else
        snprintf(host, sizeof host, "%.*s.%s.amazonaws.com", (int)strcspn(c->src, "."), c->src,
                 th__region[c->reg]);
    th__jo(w, "tlsDetails");
    th__js(w, "tlsVersion", browser ? "TLSv1.2" : "TLSv1.3");
    th__js(w, "cipherSuite", browser ? "ECDHE-RSA-AES128-GCM-SHA256" : "TLS_AES_128_GCM_SHA256");
    th__js(w, "clientProvidedHostHeader", host);
    th__je(w);
}

void th__ev_end(struct th__gen *g, const struct th__call *c)
{
    struct th__jw *w = &g->w;
    char id[40];
    if (!c->etype)
        th__js(w, "requestID", c->request_id ? c->request_id : (th__uuid(g, id), id));
    th__uuid(g, id);
    th__js(w, "eventID", id);
    th__jb(w, "readOnly", c->ro);
    if (c->nres) {
        th__ja(w, "resources");
        for (int i = 0; i < c->nres; i++) {
            th__jo(w, NULL);
            if (strcmp(c->res[i].type, "AWS::S3::Object"))
                th__js(w, "accountId", th__account_id[c->acct]);
            th__js(w, "type", c->res[i].type);
            th__js(w, "ARN", c->res[i].arn);
            th__je(w);
        }
        th__je(w);
    }
    th__js(w, "eventType", c->etype ? c->etype : "AwsApiCall");
    th__jb(w, "managementEvent", !c->data);
    th__js(w, "recipientAccountId", th__account_id[c->acct]);
    if (c->details)
        th__jraw(w, "serviceEventDetails", c->details);
    if (c->vpce) {
        th__js(w, "vpcEndpointId", c->vpce);
        th__js(w, "vpcEndpointAccountId", th__account_id[c->acct]);
    }
    th__js(w, "eventCategory", c->data ? "Data" : "Management");
    if (is_client(c->ip))
        write_tls(w, c);
    if (c->console)
        th__js(w, "sessionCredentialFromConsole", "true");
    th__je(w);
    if (c->t < TH_DAY0 || c->t >= TH_END)
        return; /* a session that ran past the sample's end */
    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 4096;
        g->ev = th__xrealloc(g->ev, g->cap * sizeof *g->ev);
    }
    struct th__event *e = &g->ev[g->n];
    *e = (struct th__event){c->t, c->acct, c->reg, g->n, th__xrealloc(NULL, w->len + 1), w->len};
    memcpy(e->json, w->s, w->len + 1);
    g->n++;
}

/* ---- Helpers, one per API shape ------------------------------------------------------------ */

void th__tmpl_call(struct th__gen *g, struct th__call c, const struct th__tmpl *t)
{
    static const char *const read_verbs[] = {"Get", "Describe", "List", "Lookup", "Filter"};
    c.src = t->src;
    c.name = t->name;
    c.ro = false;
    for (size_t i = 0; i < TH_N_ELEMS(read_verbs); i++)
        c.ro |= !strncmp(t->name, read_verbs[i], strlen(read_verbs[i]));
    if (is_global(t->src))
        c.reg = TH_USE1;
    struct th__jw *w = th__ev_begin(g, &c);
    th__jraw(w, "requestParameters", t->params);
    th__jraw(w, "responseElements", c.err ? NULL : t->resp);
    th__ev_end(g, &c);
}

void th__kms_key_arn(char out[128], int a, int r, const char *purpose)
{
    char id[40];
    th__stable_id(id, "", TH_HEX, 32, "%d/%d/%s", a, r, purpose);
    snprintf(out, 128, "arn:aws:kms:%s:%s:key/%.8s-%.4s-4%.3s-a%.3s-%.12s", th__region[r],
             th__account_id[a], id, id + 8, id + 12, id + 15, id + 18);
}

void th__bucket_name(char out[64], int a, int r, const char *purpose)
{
    snprintf(out, 64, "acme-%s-%s-%s", th__account_env[a], purpose, th__region_short[r]);
}

void th__vpce_id(char out[32], int a, int r)
{
    th__stable_id(out, "vpce-0", TH_HEX, 16, "%d/%d", a, r);
}

void th__kms_call(struct th__gen *g, struct th__call c, bool generate, const char *purpose,
                  const char *ctx_key, const char *ctx_val)
{
    char arn[128];
    th__kms_key_arn(arn, c.acct, c.reg, purpose);
    c.src = "kms.amazonaws.com";
    c.name = generate ? "GenerateDataKey" : "Decrypt";
    c.ro = true;
    th__add_res(&c, "AWS::KMS::Key", "%s", arn);
    struct th__jw *w = th__ev_begin(g, &c);
    th__jo(w, "requestParameters");
    if (generate)
        th__js(w, "keyId", arn);
    th__jo(w, "encryptionContext");
    th__js(w, ctx_key, ctx_val);
    th__je(w);
    if (generate)
        th__js(w, "keySpec", "AES_256");
    else
        th__js(w, "encryptionAlgorithm", "SYMMETRIC_DEFAULT");
    th__je(w);
    th__js(w, "responseElements", NULL);
    th__ev_end(g, &c);
}

void th__s3_object(struct th__gen *g, struct th__call c, const char *op, const char *bucket,
                   const char *key, unsigned size)
{
    char host[128], rid[20], id2[80];
    bool put_op = !strcmp(op, "PutObject"), get_op = !strcmp(op, "GetObject");
    snprintf(host, sizeof host, "%s.s3.%s.amazonaws.com", bucket, th__region[c.reg]);
    th__rand_chars(g, rid, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 16);
    th__rand_chars(g, id2, TH_ALNUM "+/", 76);
    c.src = "s3.amazonaws.com";
    c.name = op;
    c.ro = !put_op;
    c.data = true;
    c.host = host;
    c.request_id = rid;
    th__add_res(&c, "AWS::S3::Object", "arn:aws:s3:::%s/%s", bucket, key);
    th__add_res(&c, "AWS::S3::Bucket", "arn:aws:s3:::%s", bucket);
    struct th__jw *w = th__ev_begin(g, &c);
    th__jo(w, "requestParameters");
    th__js(w, "bucketName", bucket);
    th__js(w, "Host", host);
    th__js(w, "key", key);
    th__je(w);
    if (put_op && !c.err) {
        th__jo(w, "responseElements");
        th__js(w, "x-amz-server-side-encryption", "aws:kms");
        th__je(w);
    } else {
        th__js(w, "responseElements", NULL);
    }
    th__jo(w, "additionalEventData");
    th__js(w, "SignatureVersion", "SigV4");
    th__js(w, "CipherSuite", "TLS_AES_128_GCM_SHA256");
    th__jn(w, "bytesTransferredIn", put_op ? size : 0);
    th__js(w, "AuthenticationMethod", "AuthHeader");
    th__js(w, "x-amz-id-2", id2);
    th__jn(w, "bytesTransferredOut", get_op && !c.err ? size : 0);
    th__je(w);
    th__ev_end(g, &c);
}

void th__secret_read(struct th__gen *g, struct th__call c, const char *secret)
{
    char arn[160], suffix[8];
    th__stable_id(suffix, "", TH_ALNUM, 6, "%s", secret);
    snprintf(arn, sizeof arn, "arn:aws:secretsmanager:%s:%s:secret:%s-%s", th__region[c.reg],
             th__account_id[c.acct], secret, suffix);
    c.src = "secretsmanager.amazonaws.com";
    c.name = "GetSecretValue";
    c.ro = true;
    struct th__jw *w = th__ev_begin(g, &c);
    th__jo(w, "requestParameters");
    th__js(w, "secretId", secret);
    th__je(w);
    th__js(w, "responseElements", NULL);
    th__ev_end(g, &c);
    if (c.err)
        return;
    struct th__who via = *c.who;
    via.invoked_by = "secretsmanager.amazonaws.com";
    c.who = &via;
    c.ip = c.ua = via.invoked_by;
    c.vpce = NULL;
    c.console = false;
    c.t += th__rnd(g, 2);
    th__kms_call(g, c, false, "secrets", "SecretARN", arn);
}

void th__assume_role(struct th__gen *g, struct th__call c, const char *role, const char *session)
{
    char role_arn[160], exp[40], token[100];
    struct th__who target;
    th__who_role(&target, c.acct, role, session, c.t);
    snprintf(role_arn, sizeof role_arn, "arn:aws:iam::%s:role/%s", th__account_id[c.acct], role);
    th__fmt_java_time(exp, c.t + 3600);
    memcpy(token, "IQoJb3JpZ2luX2Vj", 16);
    th__rand_chars(g, token + 16, TH_ALNUM, 80);
    c.src = "sts.amazonaws.com";
    c.name = "AssumeRole";
    c.ro = true;
    th__add_res(&c, "AWS::IAM::Role", "%s", role_arn);
    struct th__jw *w = th__ev_begin(g, &c);
    th__jo(w, "requestParameters");
    th__js(w, "roleArn", role_arn);
    th__js(w, "roleSessionName", session);
    th__jn(w, "durationSeconds", 3600);
    th__je(w);
    th__jo(w, "responseElements");
    th__jo(w, "credentials");
    th__js(w, "accessKeyId", target.key);
    th__js(w, "sessionToken", token);
    th__js(w, "expiration", exp);
    th__je(w);
    th__jo(w, "assumedRoleUser");
    th__js(w, "assumedRoleId", target.pid);
    th__js(w, "arn", target.arn);
    th__je(w);
    th__je(w);
    th__ev_end(g, &c);
}

void th__console_login(struct th__gen *g, struct th__call c, const char *mfa_device)
{
    c.src = "signin.amazonaws.com";
    c.name = "ConsoleLogin";
    c.etype = "AwsConsoleSignIn";
    c.reg = TH_USE1;
    c.console = false; /* the sign-in creates the console session; it does not use one */
    struct th__jw *w = th__ev_begin(g, &c);
    th__js(w, "requestParameters", NULL);
    th__jo(w, "responseElements");
    th__js(w, "ConsoleLogin", "Success");
    th__je(w);
    th__jo(w, "additionalEventData");
    th__js(w, "LoginTo",
           "https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true"
           "&state=hashArgsFromTB_us-east-1_8f1c2d3e4a5b6c7d");
    th__js(w, "MobileVersion", "No");
    if (mfa_device)
        th__js(w, "MFAIdentifier", mfa_device);
    th__js(w, "MFAUsed", mfa_device ? "Yes" : "No");
    th__je(w);
    th__ev_end(g, &c);
}

void th__bedrock_invoke(struct th__gen *g, struct th__call c, const char *model)
{
    char host[64];
    snprintf(host, sizeof host, "bedrock-runtime.%s.amazonaws.com", th__region[c.reg]);
    c.src = "bedrock.amazonaws.com";
    c.name = "InvokeModel";
    c.ro = true;
    c.host = host;
    struct th__jw *w = th__ev_begin(g, &c);
    th__jo(w, "requestParameters");
    th__js(w, "modelId", model);
    th__je(w);
    th__js(w, "responseElements", NULL);
    th__ev_end(g, &c);
}
