/*
 * sample_traffic.c - the sample's normal traffic. A weighted table of event kinds (one function
 * each) is drawn from until the target count is reached; each kind picks its account-region pair
 * (us-east-1 carries most traffic), its time (a diurnal profile, or working hours for people),
 * its principal and its addresses. A fixed routine (nightly backups, a KMS key rotation, one
 * root sign-in) is written first whatever the count.
 *
 * Nothing here should look like an attack: console sessions only read, changes come from
 * Terraform and CloudFormation, AccessDenied errors are rare and spread out. The one exception
 * is deliberate: a root sign-in, which root-usage rules are right to report.
 */
#include "sample_traffic.h"

#include "sample_cloudtrail.h"

#include <stdio.h>
#include <string.h>

/* clang-format off */
/* The workloads of each account: a role, its session, its SDK, whether it runs in a VPC, the
 * secrets and parameter it reads. */
static const struct app {
    int acct;
    const char *role, *session, *ua;
    bool vpc;
    const char *secrets[2], *param;
} apps[] = {
    {TH_PROD, "app-orders-api", "ecs-orders-api-4f2c9e1a", TH_UA_JAVA, true,
     {"prod/orders/db-password", "prod/orders/stripe-webhook-secret"}, "/prod/orders/db-host"},
    {TH_PROD, "app-reporting", "i-0a1b2c3d4e5f60718", TH_UA_EC2, true,
     {"prod/reporting/warehouse-password", "prod/reporting/smtp-credentials"},
     "/prod/reporting/schedule"},
    {TH_PROD, "orders-processor-role", "orders-processor", TH_UA_LAMBDA, false,
     {"prod/orders/db-password", NULL}, "/prod/orders/queue-url"},
    {TH_DEV, "app-orders-api", "ecs-orders-api-9b8a7c6d", TH_UA_JAVA, true,
     {"dev/orders/db-password", NULL}, "/dev/orders/db-host"},
    {TH_DEV, "orders-processor-role", "orders-processor", TH_UA_LAMBDA, false,
     {"dev/orders/db-password", NULL}, "/dev/orders/queue-url"},
    {TH_SEC, "log-forwarder-role", "log-forwarder", TH_UA_LAMBDA, false,
     {"security/siem/api-token", NULL}, "/security/siem/endpoint"},
    {TH_SEC, "findings-exporter", "i-0f9e8d7c6b5a40312", TH_UA_GO, true,
     {"security/jira/api-token", NULL}, "/security/findings/bucket"},
};
/* Bucket purposes (the first two use SSE-KMS), Lambda functions, DynamoDB tables. */
static const char *const buckets[TH_NACCT][3] = {
    {"orders-data", "reports", "static-assets"},
    {"orders-data", "scratch", "ci-artifacts"},
    {"cloudtrail-archive", "findings", "flow-logs"}};
static const char *const functions[TH_NACCT][3] = {
    {"orders-processor", "thumbnail-resizer", "nightly-report"},
    {"orders-processor", "thumbnail-resizer", "pr-preview-cleanup"},
    {"log-forwarder", "findings-exporter", "guardduty-notifier"}};
static const char *const tables[TH_NACCT][3] = {{"orders", "sessions", "inventory"},
                                                 {"orders", "sessions", "inventory"},
                                                 {"findings-state", "exceptions", "scanner-locks"}};

/* Traffic weight of each account-region pair, summing to 100. */
static const unsigned pair_w[TH_NACCT][TH_NREG] = {{30, 12, 8}, {15, 5, 5}, {15, 5, 5}};

#define EC2_DESCRIBE_INSTANCES                                                                 \
    {"ec2.amazonaws.com", "DescribeInstances", "{\"instancesSet\":{},\"filterSet\":{}}", NULL,  \
     "ec2.describe-instances"}
#define EC2_DESCRIBE_SGS                                                                       \
    {"ec2.amazonaws.com", "DescribeSecurityGroups",                                            \
     "{\"securityGroupSet\":{},\"securityGroupIdSet\":{},\"filterSet\":{}}", NULL, NULL}
#define EC2_DESCRIBE_VPCS                                                                      \
    {"ec2.amazonaws.com", "DescribeVpcs", "{\"vpcSet\":{},\"filterSet\":{}}", NULL, NULL}
#define CW_DESCRIBE_ALARMS                                                                     \
    {"monitoring.amazonaws.com", "DescribeAlarms", "{\"maxRecords\":100}", NULL, NULL}

/* What people read in the console. */
static const struct th__tmpl console_reads[] = {
    EC2_DESCRIBE_INSTANCES, EC2_DESCRIBE_SGS, EC2_DESCRIBE_VPCS, CW_DESCRIBE_ALARMS,
    {"iam.amazonaws.com", "ListRoles", "{\"maxItems\":1000}", NULL, NULL},
    {"iam.amazonaws.com", "GetAccountSummary", NULL, NULL, NULL},
    {"lambda.amazonaws.com", "ListFunctions20150331",
     "{\"functionVersion\":\"ALL\",\"maxItems\":50}", NULL, NULL},
    {"logs.amazonaws.com", "DescribeLogGroups", "{\"limit\":50}", NULL, NULL},
    {"cloudtrail.amazonaws.com", "LookupEvents", "{\"maxResults\":50}", NULL, NULL},
    {"health.amazonaws.com", "DescribeEventAggregates",
     "{\"aggregateField\":\"eventTypeCategory\",\"filter\":{\"eventStatusCodes\":[\"open\","
     "\"upcoming\"]}}", NULL, NULL},
};
/* What the monitoring role polls. */
static const struct th__tmpl monitoring_reads[] = {
    EC2_DESCRIBE_INSTANCES, EC2_DESCRIBE_SGS, CW_DESCRIBE_ALARMS,
    {"ec2.amazonaws.com", "DescribeVolumes", "{\"volumeSet\":{},\"filterSet\":{}}", NULL, NULL},
    {"monitoring.amazonaws.com", "GetMetricData",
     "{\"metricDataQueries\":[{\"id\":\"cpu\",\"metricStat\":{\"metric\":{\"namespace\":"
     "\"AWS/EC2\",\"metricName\":\"CPUUtilization\"},\"period\":300,\"stat\":\"Average\"},"
     "\"returnData\":true}],\"scanBy\":\"TimestampDescending\"}", NULL, NULL},
    {"monitoring.amazonaws.com", "GetMetricData",
     "{\"metricDataQueries\":[{\"id\":\"errors\",\"metricStat\":{\"metric\":{\"namespace\":"
     "\"AWS/Lambda\",\"metricName\":\"Errors\"},\"period\":60,\"stat\":\"Sum\"},"
     "\"returnData\":true}],\"scanBy\":\"TimestampDescending\"}", NULL, NULL},
    {"monitoring.amazonaws.com", "ListMetrics", "{\"namespace\":\"AWS/Lambda\"}", NULL, NULL},
    {"rds.amazonaws.com", "DescribeDBInstances", "{\"maxRecords\":100}", NULL, NULL},
};
/* What the security scanner checks through SecurityAuditRole. */
static const struct th__tmpl scanner_reads[] = {
    {"iam.amazonaws.com", "ListUsers", "{\"maxItems\":100}", NULL, NULL},
    {"iam.amazonaws.com", "GetAccountPasswordPolicy", NULL, NULL, NULL},
    {"iam.amazonaws.com", "ListAccessKeys", "{\"userName\":\"dave\"}", NULL, NULL},
    {"cloudtrail.amazonaws.com", "DescribeTrails", "{\"includeShadowTrails\":true}", NULL, NULL},
    {"cloudtrail.amazonaws.com", "GetTrailStatus",
     "{\"name\":\"arn:aws:cloudtrail:us-east-1:777788889999:trail/" TH_TRAIL "\"}", NULL, NULL},
    {"config.amazonaws.com", "DescribeConfigurationRecorders", NULL, NULL, NULL},
    {"ec2.amazonaws.com", "DescribeFlowLogs", "{\"flowLogIdSet\":{},\"filterSet\":{}}", NULL,
     NULL},
};
/* What a developer runs with the aws CLI. */
static const struct th__tmpl cli_reads[] = {
    TH_TMPL_LIST_BUCKETS, TH_TMPL_GET_CALLER_IDENTITY, EC2_DESCRIBE_INSTANCES,
    {"logs.amazonaws.com", "FilterLogEvents",
     "{\"logGroupName\":\"/aws/lambda/orders-processor\",\"filterPattern\":\"ERROR\"}", NULL,
     "logs.filter-log-events"},
    {"lambda.amazonaws.com", "GetFunction20150331v2", "{\"functionName\":\"orders-processor\"}",
     NULL, "lambda.get-function"},
    {"dynamodb.amazonaws.com", "DescribeTable", "{\"tableName\":\"orders\"}", NULL,
     "dynamodb.describe-table"},
};
/* What Terraform reads (refresh) and changes (apply). */
static const struct th__tmpl tf_reads[] = {
    EC2_DESCRIBE_SGS, EC2_DESCRIBE_VPCS,
    {"iam.amazonaws.com", "GetRole", "{\"roleName\":\"orders-processor-role\"}", NULL, NULL},
    {"lambda.amazonaws.com", "GetFunction20150331v2", "{\"functionName\":\"orders-processor\"}",
     NULL, NULL},
    {"logs.amazonaws.com", "DescribeLogGroups",
     "{\"logGroupNamePrefix\":\"/aws/lambda/orders-processor\"}", NULL, NULL},
};
static const struct th__tmpl tf_writes[] = {
    {"ec2.amazonaws.com", "AuthorizeSecurityGroupIngress",
     "{\"groupId\":\"sg-0b7c6d5e4f3a21098\",\"ipPermissions\":{\"items\":[{\"ipProtocol\":"
     "\"tcp\",\"fromPort\":443,\"toPort\":443,\"groups\":{},\"ipRanges\":{\"items\":[{\"cidrIp\":"
     "\"10.0.0.0/8\",\"description\":\"internal https\"}]},\"ipv6Ranges\":{},\"prefixListIds\":{}"
     "}]}}", "{\"_return\":true}", NULL},
    {"ec2.amazonaws.com", "CreateTags",
     "{\"resourcesSet\":{\"items\":[{\"resourceId\":\"sg-0b7c6d5e4f3a21098\"}]},\"tagSet\":"
     "{\"items\":[{\"key\":\"owner\",\"value\":\"platform\"}]}}", "{\"_return\":true}", NULL},
    {"lambda.amazonaws.com", "UpdateFunctionCode20150331v2",
     "{\"functionName\":\"orders-processor\",\"s3Bucket\":\"acme-dev-ci-artifacts-use1\","
     "\"s3Key\":\"lambda/orders-processor.zip\",\"publish\":false,\"dryRun\":false}", NULL, NULL},
    {"iam.amazonaws.com", "TagRole",
     "{\"roleName\":\"orders-processor-role\",\"tags\":[{\"key\":\"owner\",\"value\":"
     "\"platform\"}]}", NULL, NULL},
    {"logs.amazonaws.com", "PutRetentionPolicy",
     "{\"logGroupName\":\"/aws/lambda/orders-processor\",\"retentionInDays\":30}", NULL, NULL},
    {"monitoring.amazonaws.com", "PutMetricAlarm",
     "{\"alarmName\":\"orders-processor-errors\",\"metricName\":\"Errors\",\"namespace\":"
     "\"AWS/Lambda\",\"statistic\":\"Sum\",\"period\":300,\"evaluationPeriods\":1,\"threshold\":"
     "5.0,\"comparisonOperator\":\"GreaterThanOrEqualToThreshold\"}", NULL, NULL},
};
/* What CloudFormation does for a stack update, with its service role. */
static const struct th__tmpl cfn_writes[] = {
    {"logs.amazonaws.com", "CreateLogGroup",
     "{\"logGroupName\":\"/aws/lambda/orders-api-authorizer\"}", NULL, NULL},
    {"iam.amazonaws.com", "CreateRole",
     "{\"roleName\":\"orders-api-authorizer-role\",\"path\":\"/\",\"assumeRolePolicyDocument\":"
     "\"{\\\"Version\\\":\\\"2012-10-17\\\",\\\"Statement\\\":[{\\\"Effect\\\":\\\"Allow\\\","
     "\\\"Principal\\\":{\\\"Service\\\":\\\"lambda.amazonaws.com\\\"},\\\"Action\\\":"
     "\\\"sts:AssumeRole\\\"}]}\"}", NULL, NULL},
    {"iam.amazonaws.com", "AttachRolePolicy",
     "{\"roleName\":\"orders-api-authorizer-role\",\"policyArn\":"
     "\"arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole\"}", NULL, NULL},
    {"lambda.amazonaws.com", "CreateFunction20150331",
     "{\"functionName\":\"orders-api-authorizer\",\"runtime\":\"python3.11\",\"handler\":"
     "\"app.handler\",\"timeout\":10,\"memorySize\":256,\"publish\":false}", NULL, NULL},
    {"sqs.amazonaws.com", "CreateQueue",
     "{\"queueName\":\"orders-dlq\",\"attributes\":{\"MessageRetentionPeriod\":\"1209600\"}}",
     NULL, NULL},
};
/* clang-format on */

/* ---- Picking times, places and principals ------------------------------------------------ */

/* A time on a random day with a diurnal profile (quiet nights, busy afternoons UTC). */
static int64_t t_any(struct th__gen *g)
{
    static const unsigned char hour_w[24] = {4,  3,  3,  3,  3,  4, 5, 6, 8, 9, 10, 10,
                                             10, 10, 10, 10, 10, 9, 8, 7, 6, 6, 5,  4};
    unsigned total = 0, h = 0, x;
    for (int i = 0; i < 24; i++)
        total += hour_w[i];
    for (x = th__rnd(g, total); x >= hour_w[h]; h++)
        x -= hour_w[h];
    return TH_DAY0 + 86400LL * th__rnd(g, TH_NDAYS) + 3600LL * h + th__rnd(g, 3600);
}

/* A time between from_h and to_h (UTC) on day (0, 1, or -1 for either). */
static int64_t t_work(struct th__gen *g, int day, int from_h, int to_h)
{
    if (day < 0)
        day = (int)th__rnd(g, TH_NDAYS);
    return TH_DAY0 + 86400LL * day + 3600LL * from_h +
           th__rnd(g, 3600u * (unsigned)(to_h - from_h));
}

static void pick_pair(struct th__gen *g, struct th__call *c)
{
    unsigned x = th__rnd(g, 100);
    for (c->acct = 0; c->acct < TH_NACCT; c->acct++)
        for (c->reg = 0; c->reg < TH_NREG; c->reg++) {
            if (x < pair_w[c->acct][c->reg])
                return;
            x -= pair_w[c->acct][c->reg];
        }
}

static const struct app *pick_app(struct th__gen *g, int a)
{
    const struct app *found[TH_N_ELEMS(apps)];
    unsigned n = 0;
    for (size_t i = 0; i < TH_N_ELEMS(apps); i++)
        if (apps[i].acct == a)
            found[n++] = &apps[i];
    return found[th__rnd(g, n)];
}

/* A workload's call: its session, and its origin: a private address behind the account-region's
 * VPC endpoint, or one of AWS's public addresses (Lambda outside a VPC). */
static void app_call(struct th__gen *g, struct th__call *c, const struct app *app,
                     struct th__who *p, char ip[20], char vpce[32])
{
    th__who_role(p, c->acct, app->role, app->session, th__session_start(c->t, app->role));
    c->who = p;
    c->ua = app->ua;
    if (app->vpc) {
        snprintf(ip, 20, "10.%d.%u.%u", 20 + 10 * c->acct + c->reg, 16 + th__rnd(g, 16),
                 4 + th__rnd(g, 250));
        th__vpce_id(vpce, c->acct, c->reg);
        c->vpce = vpce;
    } else {
        snprintf(ip, 20, "52.94.%u.%u", 130 + 40 * c->reg + th__rnd(g, 8), 1 + th__rnd(g, 250));
    }
    c->ip = ip;
}

/* ---- The kinds of normal traffic ---------------------------------------------------------- */

static void k_s3(struct th__gen *g)
{
    static const char *const ops[] = {"GetObject", "GetObject", "GetObject",
                                      "PutObject", "PutObject", "HeadObject"};
    static const char *const ext[] = {"json.gz", "parquet", "csv", "json"};
    struct th__call c = {.t = t_any(g)};
    struct th__who p;
    char ip[20], vpce[32], ua[320], bucket[64], key[128], date[16];
    pick_pair(g, &c);
    app_call(g, &c, pick_app(g, c.acct), &p, ip, vpce);
    snprintf(ua, sizeof ua, "[%s]", c.ua); /* S3 logs the agent in brackets */
    c.ua = ua;
    unsigned b = th__rnd(g, 3);
    th__bucket_name(bucket, c.acct, c.reg, buckets[c.acct][b]);
    th__fmt_utc(date, sizeof date, "%Y/%m/%d", c.t);
    snprintf(key, sizeof key, "%s/%s/part-%05u.%s", buckets[c.acct][b], date, th__rnd(g, 3000),
             TH_PICK(g, ext));
    const char *op = TH_PICK(g, ops);
    th__s3_object(g, c, op, bucket, key, 200 + th__rnd(g, 4000000));
    if (b < 2 && strcmp(op, "HeadObject")) { /* SSE-KMS: S3 calls KMS on the caller's behalf */
        char arn[96];
        struct th__who via = p;
        via.invoked_by = c.ip = c.ua = "s3.amazonaws.com";
        c.who = &via;
        c.vpce = NULL;
        snprintf(arn, sizeof arn, "arn:aws:s3:::%s", bucket);
        th__kms_call(g, c, op[0] == 'P', buckets[c.acct][b], "aws:s3:arn", arn);
    }
}

static void k_kms_service(struct th__gen *g)
{
    static const struct {
        const char *svc, *ctx_key, *ctx_val;
        bool generate;
    } uses[] = {
        {"cloudtrail.amazonaws.com", "aws:cloudtrail:arn",
         "arn:aws:cloudtrail:us-east-1:777788889999:trail/" TH_TRAIL, true},
        {"ec2.amazonaws.com", "aws:ebs:id", "vol-0c4f8e2a9b1d3e5f7", false},
        {"dynamodb.amazonaws.com", "aws:dynamodb:tableName", "orders", false},
        {"logs.amazonaws.com", "aws:logs:arn", "arn:aws:logs:log-group:/aws/lambda/orders", true},
        {"rds.amazonaws.com", "aws:rds:db-id", "db-7KQ3ZV2XHMB4PDW6YJ5LRNT3CE", false},
    };
    struct th__call c = {.t = t_any(g)};
    struct th__who p;
    pick_pair(g, &c);
    unsigned u = th__rnd(g, TH_N_ELEMS(uses));
    th__who_service(&p, uses[u].svc);
    c.who = &p;
    c.ip = uses[u].svc;
    c.ua = th__chance(g, 70) ? uses[u].svc : NULL; /* some services send no user agent */
    th__kms_call(g, c, uses[u].generate, uses[u].svc, uses[u].ctx_key, uses[u].ctx_val);
}

static void k_assume_service(struct th__gen *g)
{
    struct th__call c = {.t = t_any(g)};
    struct th__who p;
    pick_pair(g, &c);
    const struct app *app = pick_app(g, c.acct);
    const char *svc = !app->vpc                ? "lambda.amazonaws.com"
                      : app->session[0] == 'i' ? "ec2.amazonaws.com"
                                               : "ecs-tasks.amazonaws.com";
    th__who_service(&p, svc);
    c.who = &p;
    c.ip = c.ua = svc;
    th__assume_role(g, c, app->role, app->session);
}

static void k_lambda_invoke(struct th__gen *g)
{
    struct th__call c = {.t = t_any(g)};
    struct th__who p;
    char ip[20], vpce[32], fn[160];
    pick_pair(g, &c);
    if (th__chance(g, 40)) {
        th__who_service(&p, "apigateway.amazonaws.com");
        c.who = &p;
        c.ip = c.ua = p.invoked_by;
    } else {
        app_call(g, &c, pick_app(g, c.acct), &p, ip, vpce);
    }
    snprintf(fn, sizeof fn, "arn:aws:lambda:%s:%s:function:%s", th__region[c.reg],
             th__account_id[c.acct], functions[c.acct][th__rnd(g, 3)]);
    c.src = "lambda.amazonaws.com";
    c.name = "Invoke";
    c.data = true;
    th__add_res(&c, "AWS::Lambda::Function", "%s", fn);
    struct th__jw *w = th__ev_begin(g, &c);
    th__jo(w, "requestParameters");
    th__js(w, "functionName", fn);
    th__js(w, "invocationType", th__chance(g, 70) ? "RequestResponse" : "Event");
    th__je(w);
    th__js(w, "responseElements", NULL);
    th__jo(w, "additionalEventData");
    th__jsf(w, "functionVersion", "%s:$LATEST", fn);
    th__je(w);
    th__ev_end(g, &c);
}

static void k_dynamodb(struct th__gen *g)
{
    struct th__call c = {.t = t_any(g)};
    struct th__who p;
    char ip[20], vpce[32], id[16];
    pick_pair(g, &c);
    app_call(g, &c, pick_app(g, c.acct), &p, ip, vpce);
    const char *table = tables[c.acct][th__rnd(g, 3)];
    c.src = "dynamodb.amazonaws.com";
    c.name = "GetItem";
    c.ro = c.data = true;
    th__add_res(&c, "AWS::DynamoDB::Table", "arn:aws:dynamodb:%s:%s:table/%s", th__region[c.reg],
                th__account_id[c.acct], table);
    th__rand_chars(g, id, "0123456789ABCDEFGHJKMNPQRSTVWXYZ", 10);
    struct th__jw *w = th__ev_begin(g, &c);
    th__jo(w, "requestParameters");
    th__js(w, "tableName", table);
    th__jo(w, "key");
    th__jsf(w, "pk", "%s#%s", table, id);
    th__js(w, "sk", "META");
    th__je(w);
    th__jb(w, "consistentRead", false);
    th__je(w);
    th__js(w, "responseElements", NULL);
    th__ev_end(g, &c);
}

static void k_monitoring(struct th__gen *g)
{
    struct th__call c = {.t = t_any(g), .ip = TH_IP_MONITOR, .ua = TH_UA_GO};
    struct th__who p;
    pick_pair(g, &c);
    th__who_role(&p, c.acct, "monitoring-readonly", "grafana",
                 th__session_start(c.t, "monitoring-readonly"));
    c.who = &p;
    th__tmpl_call(g, c, &TH_PICK(g, monitoring_reads));
}

static void k_ssm(struct th__gen *g)
{
    struct th__call c = {.t = t_any(g), .src = "ssm.amazonaws.com", .name = "GetParameter"};
    struct th__who p;
    char ip[20], vpce[32];
    pick_pair(g, &c);
    const struct app *app = pick_app(g, c.acct);
    app_call(g, &c, app, &p, ip, vpce);
    c.ro = true;
    struct th__jw *w = th__ev_begin(g, &c);
    th__jo(w, "requestParameters");
    th__js(w, "name", app->param);
    th__jb(w, "withDecryption", true);
    th__je(w);
    th__js(w, "responseElements", NULL);
    th__ev_end(g, &c);
}

static void k_secret(struct th__gen *g)
{
    struct th__call c = {.t = t_any(g)};
    struct th__who p;
    char ip[20], vpce[32];
    pick_pair(g, &c);
    const struct app *app = pick_app(g, c.acct);
    app_call(g, &c, app, &p, ip, vpce);
    th__secret_read(g, c, app->secrets[app->secrets[1] ? th__rnd(g, 2) : 0]);
}

/* A console session: the sign-in, then a few pages that read. */
static void k_console(struct th__gen *g)
{
    struct th__call c = {.console = true};
    struct th__who login, p;
    char mfa[96];
    bool alice = th__chance(g, 50);
    if (alice) { /* an IAM user with MFA in prod, New York */
        c.t = t_work(g, -1, 13, 21);
        c.acct = TH_PROD;
        c.ip = TH_IP_OFFICE;
        c.ua = TH_UA_CHROME;
        th__who_user(&login, TH_PROD, "alice", 0);
        login.key[0] = '\0';
        th__who_user(&p, TH_PROD, "alice", c.t);
        snprintf(mfa, sizeof mfa, "arn:aws:iam::%s:mfa/alice", th__account_id[TH_PROD]);
    } else { /* IAM Identity Center, read-only, in prod or dev, London */
        c.t = t_work(g, -1, 8, 17);
        c.acct = th__chance(g, 50) ? TH_PROD : TH_DEV;
        c.ip = TH_IP_BOB;
        c.ua = TH_UA_FIREFOX;
        th__who_role(&login, c.acct, "AWSReservedSSO_ReadOnlyAccess_5e1f2a3b4c6d7e8f",
                     "bob@example.com", c.t);
        p = login;
    }
    c.who = &login;
    th__console_login(g, c, alice ? mfa : NULL);
    c.who = &p;
    c.reg = th__chance(g, 75) ? TH_USE1 : TH_EUW1;
    for (unsigned i = 0, n = 2 + th__rnd(g, 8); i < n; i++) {
        c.t += 5 + th__rnd(g, 240);
        th__tmpl_call(g, c, &TH_PICK(g, console_reads));
    }
}

/* A CI pipeline: the GitLab runner (dev) assumes a deploy role in the target account. */
static void ci_session(struct th__gen *g, struct th__call *c, struct th__who *p, const char *role,
                       char session[32])
{
    struct th__who runner;
    int64_t t = c->t;
    snprintf(session, 32, "gitlab-ci-%u", 480000 + th__rnd(g, 90000));
    th__who_role(&runner, TH_DEV, "ci-runner", "i-0c1d2e3f4a5b6c7d8",
                 th__session_start(t, "ci-runner"));
    c->who = &runner;
    th__assume_role(g, *c, role, session);
    th__who_role(p, c->acct, role, session, t);
    c->who = p;
    c->t = t + 1;
    th__tmpl_call(g, *c, &(struct th__tmpl)TH_TMPL_GET_CALLER_IDENTITY);
}

static void k_terraform(struct th__gen *g)
{
    struct th__call c = {.t = t_work(g, -1, 9, 20), .ip = TH_IP_CI, .ua = TH_UA_TF};
    struct th__who p;
    char session[32];
    c.acct = th__chance(g, 60) ? TH_PROD : TH_DEV;
    c.reg = th__chance(g, 75) ? TH_USE1 : TH_EUW1;
    ci_session(g, &c, &p, "terraform-deploy", session);
    for (unsigned i = 0, n = 2 + th__rnd(g, 4); i < n; i++) {
        c.t += th__rnd(g, 3);
        th__tmpl_call(g, c, &TH_PICK(g, tf_reads));
    }
    for (unsigned i = 0, n = 1 + th__rnd(g, 3); i < n; i++) {
        c.t += 1 + th__rnd(g, 20);
        th__tmpl_call(g, c, &TH_PICK(g, tf_writes));
    }
}

static void k_cloudformation(struct th__gen *g)
{
    static const struct th__tmpl change_sets[] = {
        {"cloudformation.amazonaws.com", "CreateChangeSet",
         "{\"stackName\":\"orders-api\",\"changeSetName\":\"orders-api-deploy\","
         "\"changeSetType\":\"UPDATE\",\"capabilities\":[\"CAPABILITY_IAM\"]}",
         NULL, NULL},
        {"cloudformation.amazonaws.com", "ExecuteChangeSet",
         "{\"stackName\":\"orders-api\",\"changeSetName\":\"orders-api-deploy\"}", NULL, NULL},
    };
    struct th__call c = {
        .t = t_work(g, -1, 9, 20), .ip = TH_IP_CI, .ua = TH_UA_CLI_LINUX "cloudformation.deploy"};
    struct th__who p, cfn;
    char session[32];
    c.acct = th__chance(g, 50) ? TH_PROD : TH_DEV;
    c.reg = TH_USE1;
    ci_session(g, &c, &p, "cfn-deploy", session);
    for (int i = 0; i < 2; i++) {
        c.t += 2 + th__rnd(g, 10);
        th__tmpl_call(g, c, &change_sets[i]);
    }
    th__who_role(&cfn, c.acct, "cfn-exec-role", "AWSCloudFormation", c.t);
    cfn.invoked_by = c.ip = c.ua = "cloudformation.amazonaws.com";
    c.who = &cfn;
    for (unsigned i = 0, n = 2 + th__rnd(g, 3); i < n; i++) {
        c.t += 1 + th__rnd(g, 15);
        th__tmpl_call(g, c, &TH_PICK(g, cfn_writes));
    }
}

/* An AccessDenied at a low steady rate, from the usual principals. */
static void k_access_denied(struct th__gen *g)
{
    struct th__call c = {.t = t_any(g), .err = "AccessDenied"};
    struct th__who p;
    char ip[20], vpce[32], msg[512], bucket[64], key[96];
    pick_pair(g, &c);
    unsigned v = th__rnd(g, 10);
    if (v < 3) { /* an application reading another team's bucket */
        const struct app *app = pick_app(g, c.acct);
        app_call(g, &c, app, &p, ip, vpce);
        th__bucket_name(bucket, c.acct, c.reg, buckets[c.acct][2]);
        snprintf(key, sizeof key, "exports/%u.csv", th__rnd(g, 100000));
        c.errmsg = "Access Denied";
        th__s3_object(g, c, "GetObject", bucket, key, 0);
    } else if (v < 6) { /* an application reading a parameter it has no grant for */
        const struct app *app = pick_app(g, c.acct);
        app_call(g, &c, app, &p, ip, vpce);
        snprintf(msg, sizeof msg,
                 "User: %s is not authorized to perform: ssm:GetParameter on resource: "
                 "arn:aws:ssm:%s:%s:parameter/payments/api-url because no identity-based "
                 "policy allows the ssm:GetParameter action",
                 p.arn, th__region[c.reg], th__account_id[c.acct]);
        c.errmsg = msg;
        th__tmpl_call(g, c,
                      &(struct th__tmpl){"ssm.amazonaws.com", "GetParameter",
                                         "{\"name\":\"/payments/api-url\"}", NULL, NULL});
    } else if (v < 9) { /* the monitoring role meets a call outside its policy */
        th__who_role(&p, c.acct, "monitoring-readonly", "grafana",
                     th__session_start(c.t, "monitoring-readonly"));
        c.who = &p;
        c.ip = TH_IP_MONITOR;
        c.ua = TH_UA_GO;
        c.err = "Client.UnauthorizedOperation";
        snprintf(msg, sizeof msg,
                 "You are not authorized to perform this operation. User: %s is not authorized "
                 "to perform: ec2:DescribeInstanceAttribute because no identity-based policy "
                 "allows the ec2:DescribeInstanceAttribute action",
                 p.arn);
        c.errmsg = msg;
        th__tmpl_call(g, c,
                      &(struct th__tmpl){"ec2.amazonaws.com", "DescribeInstanceAttribute",
                                         "{\"instanceId\":\"i-0a1b2c3d4e5f60718\","
                                         "\"attribute\":\"userData\"}",
                                         NULL, NULL});
    } else { /* bob, read-only, opens a secret in the console */
        c.t = t_work(g, -1, 8, 17);
        c.acct = TH_DEV;
        th__who_role(&p, c.acct, "AWSReservedSSO_ReadOnlyAccess_5e1f2a3b4c6d7e8f",
                     "bob@example.com", c.t - 600);
        c.who = &p;
        c.ip = TH_IP_BOB;
        c.ua = TH_UA_FIREFOX;
        c.console = true;
        snprintf(msg, sizeof msg,
                 "User: %s is not authorized to perform: secretsmanager:GetSecretValue on "
                 "resource: dev/orders/db-password because no identity-based policy allows the "
                 "secretsmanager:GetSecretValue action",
                 p.arn);
        c.errmsg = msg;
        th__secret_read(g, c, "dev/orders/db-password");
    }
}

/* dave, a developer with a long-term access key, uses the CLI from the office. On the second
 * day he stops before 15:00, so the only travel in his history is the attack's. */
static void k_dev_cli(struct th__gen *g)
{
    int day = (int)th__rnd(g, TH_NDAYS);
    struct th__call c = {
        .t = t_work(g, day, 13, day ? 15 : 21), .acct = TH_PROD, .ip = TH_IP_OFFICE};
    struct th__who p;
    char ua[160];
    th__who_user(&p, TH_PROD, "dave", 0);
    c.who = &p;
    c.reg = th__chance(g, 80) ? TH_USE1 : TH_EUW1;
    for (unsigned i = 0, n = 1 + th__rnd(g, 3); i < n; i++) {
        const struct th__tmpl *t = &TH_PICK(g, cli_reads);
        snprintf(ua, sizeof ua, TH_UA_CLI_MAC "%s", t->cli);
        c.ua = ua;
        c.t += 10 + th__rnd(g, 120);
        th__tmpl_call(g, c, t);
    }
}

/* A partner's account reads the exchange bucket: userIdentity type AWSAccount. */
static void k_partner(struct th__gen *g)
{
    struct th__call c = {
        .t = t_any(g), .acct = TH_PROD, .reg = TH_USE1, .ua = "[" TH_UA_LAMBDA "]"};
    struct th__who p = {.type = "AWSAccount", .acct = "210987654321"};
    char ip[20], bucket[64], key[96], date[16];
    th__stable_id(p.pid, "AROA", TH_B32, 17, "210987654321/partner-sync");
    strcat(p.pid, ":partner-sync");
    c.who = &p;
    snprintf(ip, sizeof ip, "52.94.%u.%u", 132 + th__rnd(g, 4), 1 + th__rnd(g, 250));
    c.ip = ip;
    th__bucket_name(bucket, TH_PROD, TH_USE1, "partner-exchange");
    th__fmt_utc(date, sizeof date, "%Y-%m-%d", c.t);
    snprintf(key, sizeof key, "outbound/%s/orders-%03u.csv", date, th__rnd(g, 200));
    th__s3_object(g, c, "GetObject", bucket, key, 20000 + th__rnd(g, 500000));
}

/* The on-premises broker's federated users (GetFederationToken): type FederatedUser. */
static void k_federated(struct th__gen *g)
{
    struct th__call c = {.t = t_work(g, -1, 7, 19),
                         .acct = TH_DEV,
                         .reg = TH_USE1,
                         .ip = TH_IP_FED,
                         .ua = "[aws-sdk-java/1.12.650 Linux/4.18.0-513.11.1.el8_9.x86_64 "
                               "OpenJDK_64-Bit_Server_VM/11.0.22+7-LTS java/11.0.22 "
                               "vendor/Red_Hat,_Inc. cfg/retry-mode/legacy]"};
    struct th__who p = {.type = "FederatedUser",
                        .acct = "444455556666",
                        .mfa = "false",
                        .iss_type = "IAMUser",
                        .iss_user = "legacy-broker"};
    char bucket[64], key[96];
    snprintf(p.pid, sizeof p.pid, "%s:reporting-batch", p.acct);
    snprintf(p.arn, sizeof p.arn, "arn:aws:sts::%s:federated-user/reporting-batch", p.acct);
    th__stable_id(p.key, "ASIA", TH_B32, 16, "fed/%lld", (long long)(c.t / 3600));
    th__fmt_time(p.created, c.t - 60);
    th__stable_id(p.iss_pid, "AIDA", TH_B32, 17, "%s/legacy-broker", p.acct);
    snprintf(p.iss_arn, sizeof p.iss_arn, "arn:aws:iam::%s:user/legacy-broker", p.acct);
    c.who = &p;
    th__bucket_name(bucket, TH_DEV, TH_USE1, "scratch");
    for (unsigned i = 0, n = 1 + th__rnd(g, 2); i < n; i++) {
        snprintf(key, sizeof key, "batch/report-%04u.csv", th__rnd(g, 10000));
        c.t += th__rnd(g, 30);
        th__s3_object(g, c, "PutObject", bucket, key, 1000 + th__rnd(g, 90000));
    }
}

/* The security account's scanner assumes SecurityAuditRole in prod or dev and checks things. */
static void k_security_scan(struct th__gen *g)
{
    struct th__call c = {.t = t_any(g), .ip = TH_IP_SCANNER, .ua = TH_UA_EC2};
    struct th__who scanner, p;
    char session[32];
    c.acct = th__chance(g, 50) ? TH_PROD : TH_DEV;
    c.reg = TH_USE1;
    snprintf(session, sizeof session, "prowler-%lld", (long long)c.t);
    th__who_role(&scanner, TH_SEC, "security-scanner", "i-0ffe1d2c3b4a59687",
                 th__session_start(c.t, "security-scanner"));
    c.who = &scanner;
    th__assume_role(g, c, "SecurityAuditRole", session);
    th__who_role(&p, c.acct, "SecurityAuditRole", session, c.t);
    c.who = &p;
    for (unsigned i = 0, n = 2 + th__rnd(g, 5); i < n; i++) {
        c.t += 1 + th__rnd(g, 5);
        c.reg = (int)th__rnd(g, TH_NREG);
        th__tmpl_call(g, c, &TH_PICK(g, scanner_reads));
    }
}

/* The orders processor summarises orders with Bedrock, through its role (no long-term key). */
static void k_bedrock_role(struct th__gen *g)
{
    struct th__call c = {.t = t_any(g), .acct = TH_PROD, .reg = TH_USE1};
    struct th__who p;
    char ip[20], vpce[32];
    app_call(g, &c, &apps[2], &p, ip, vpce);
    th__bedrock_invoke(g, c, "anthropic.claude-3-haiku-20240307-v1:0");
}

/* clang-format off */
static const struct kind {
    void (*fn)(struct th__gen *g);
    unsigned weight;
} kinds[] = {
    {k_s3, 300},          {k_kms_service, 70},  {k_assume_service, 60}, {k_lambda_invoke, 60},
    {k_dynamodb, 80},     {k_monitoring, 100},   {k_ssm, 40},            {k_secret, 20},
    {k_console, 6},       {k_terraform, 4},      {k_cloudformation, 2},  {k_access_denied, 10},
    {k_dev_cli, 8},       {k_partner, 4},        {k_federated, 3},       {k_security_scan, 4},
    {k_bedrock_role, 6},
};
/* clang-format on */

/* ---- The routine -------------------------------------------------------------------------- */

/* svc-legacy-backup, an IAM user with a long-term key, uploads last night's dumps at 02:00. */
static void nightly_backup(struct th__gen *g, int day)
{
    struct th__call c = {.t = TH_DAY0 + 86400LL * day + 7200 + th__rnd(g, 120),
                         .acct = TH_PROD,
                         .reg = TH_USE1,
                         .ip = TH_IP_BACKUP,
                         .ua = "[aws-cli/1.29.62 Python/3.8.10 Linux/5.4.0-169-generic "
                               "botocore/1.31.62]"};
    struct th__who p;
    char bucket[64], key[128], date[16];
    th__who_user(&p, TH_PROD, "svc-legacy-backup", 0);
    c.who = &p;
    th__bucket_name(bucket, TH_PROD, TH_USE1, "onprem-backups");
    th__fmt_utc(date, sizeof date, "%Y-%m-%d", c.t - 86400);
    for (unsigned i = 0, n = 10 + th__rnd(g, 6); i < n; i++) {
        snprintf(key, sizeof key, "nightly/%s/pg_dump-orders.part-%04u.gz", date, i);
        c.t += 30 + th__rnd(g, 90);
        th__s3_object(g, c, "PutObject", bucket, key, 50000000 + th__rnd(g, 40000000));
    }
}

static void routine(struct th__gen *g)
{
    for (int day = 0; day < TH_NDAYS; day++)
        nightly_backup(g, day);

    /* KMS rotates prod's orders key: an AwsServiceEvent with no identity type. */
    struct th__who kms = {.acct = "111122223333", .invoked_by = "kms.amazonaws.com"};
    struct th__call c = {.t = TH_DAY0 + 3 * 3600 + 17 * 60 + 42,
                         .acct = TH_PROD,
                         .reg = TH_USE1,
                         .who = &kms,
                         .ip = "kms.amazonaws.com",
                         .ua = "kms.amazonaws.com",
                         .src = "kms.amazonaws.com",
                         .name = "RotateKey",
                         .etype = "AwsServiceEvent"};
    char arn[128], details[192];
    th__kms_key_arn(arn, TH_PROD, TH_USE1, "orders-data");
    th__add_res(&c, "AWS::KMS::Key", "%s", arn);
    snprintf(details, sizeof details, "{\"keyId\":\"%s\"}", strrchr(arn, '/') + 1);
    c.details = details;
    struct th__jw *w = th__ev_begin(g, &c);
    th__js(w, "requestParameters", NULL);
    th__js(w, "responseElements", NULL);
    th__ev_end(g, &c);

    /* The dev account's owner signs in as root to look at the bill (day 1, 16:41). */
    struct th__who root_login, root;
    char mfa[64];
    c = (struct th__call){.t = TH_DAY0 + 16 * 3600 + 41 * 60 + 9,
                          .acct = TH_DEV,
                          .reg = TH_USE1,
                          .ip = TH_IP_OFFICE_ROOT,
                          .ua = TH_UA_CHROME,
                          .who = &root_login};
    th__who_root(&root_login, TH_DEV, c.t);
    root_login.key[0] = root_login.created[0] = '\0';
    snprintf(mfa, sizeof mfa, "arn:aws:iam::%s:mfa/root-account-mfa-device",
             th__account_id[TH_DEV]);
    th__console_login(g, c, mfa);
    th__who_root(&root, TH_DEV, c.t);
    c.who = &root;
    c.console = true;
    c.t += 40;
    th__tmpl_call(g, c,
                  &(struct th__tmpl){"ce.amazonaws.com", "GetCostAndUsage",
                                     "{\"timePeriod\":{\"start\":\"2024-02-01\",\"end\":"
                                     "\"2024-03-01\"},\"granularity\":\"MONTHLY\","
                                     "\"metrics\":[\"UnblendedCost\"]}",
                                     NULL, NULL});
    c.t += 75;
    th__tmpl_call(g, c, &console_reads[5]); /* GetAccountSummary */
}

void th__sample_traffic(struct th__gen *g, size_t target)
{
    unsigned total = 0;
    for (size_t i = 0; i < TH_N_ELEMS(kinds); i++)
        total += kinds[i].weight;
    routine(g);
    while (g->n < target) {
        unsigned x = th__rnd(g, total);
        size_t k = 0;
        while (x >= kinds[k].weight)
            x -= kinds[k++].weight;
        kinds[k].fn(g);
    }
}
