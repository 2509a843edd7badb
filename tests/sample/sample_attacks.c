/*
 * sample_attacks.c - the attacks mixed into the sample. Each is a short story at a fixed time on
 * 2024-03-05 (UTC), told in tests/sample/README.md with its account, principal and events; keep
 * the two in step. The seed changes only identifiers (eventID, requestID), never who, when or
 * from where.
 *
 * Attacker addresses: 185.220.101.34 (a Tor exit, Germany) checks the leaked key;
 * 175.41.150.27 (an EC2 address in Singapore) uses dave's key 55 minutes after he used it from
 * the New York office. The office, CI and home addresses are documentation ranges; a GeoIP
 * database for the sample has to place them (203.0.113.0/24 in New York, 192.0.2.0/24 in
 * London, 198.51.100.0/24 in Virginia).
 */
#include "sample_attacks.h"

#include "sample_cloudtrail.h"

#include <stdio.h>

#define IP_TOR "185.220.101.34"
#define IP_SINGAPORE "175.41.150.27"
#define UA_TRUFFLEHOG "aws-sdk-go/1.44.317 (go1.20.6; linux; amd64) TruffleHog"
#define UA_ATTACKER_CLI                                                                            \
    "aws-cli/2.13.0 Python/3.11.4 Linux/6.5.0-1014-aws exe/x86_64.ubuntu.22 prompt/off "           \
    "command/"
#define UA_BOTO_MAC                                                                                \
    "Boto3/1.34.51 md/Botocore#1.34.51 ua/2.0 os/macos#23.3.0 md/arch#arm64 "                      \
    "lang/python#3.12.2 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.51"

/* h:m:s on the attacks' day. */
static int64_t at(int h, int m, int s) { return TH_DAY2 + 3600LL * h + 60 * m + s; }

/* 2 and 3: svc-legacy-backup's key leaks; someone validates it with TruffleHog from a Tor exit,
 * AWS quarantines the user, and the attacker's next call meets the quarantine's explicit deny. */
static void leaked_key(struct th__gen *g)
{
    struct th__who user, aws;
    char msg[512];
    th__who_user(&user, TH_PROD, "svc-legacy-backup", 0);
    struct th__call c = {.t = at(9, 12, 7),
                         .acct = TH_PROD,
                         .reg = TH_USE1,
                         .who = &user,
                         .ip = IP_TOR,
                         .ua = UA_TRUFFLEHOG};
    th__tmpl_call(g, c, &(struct th__tmpl)TH_TMPL_GET_CALLER_IDENTITY);

    th__who_service(&aws, "AWS Internal");
    c = (struct th__call){.t = at(9, 15, 52),
                          .acct = TH_PROD,
                          .reg = TH_USE1,
                          .who = &aws,
                          .ip = "AWS Internal",
                          .ua = "AWS Internal"};
    th__tmpl_call(g, c,
                  &(struct th__tmpl){"iam.amazonaws.com", "AttachUserPolicy",
                                     "{\"userName\":\"svc-legacy-backup\",\"policyArn\":"
                                     "\"arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV2\"}",
                                     NULL, NULL});

    c = (struct th__call){.t = at(9, 21, 30),
                          .acct = TH_PROD,
                          .reg = TH_USE1,
                          .who = &user,
                          .ip = IP_TOR,
                          .ua = UA_ATTACKER_CLI "iam.list-attached-user-policies",
                          .err = "AccessDenied",
                          .errmsg = msg};
    snprintf(msg, sizeof msg,
             "User: %s is not authorized to perform: iam:ListAttachedUserPolicies on resource: "
             "user svc-legacy-backup with an explicit deny in an identity-based policy",
             user.arn);
    th__tmpl_call(g, c,
                  &(struct th__tmpl){"iam.amazonaws.com", "ListAttachedUserPolicies",
                                     "{\"userName\":\"svc-legacy-backup\"}", NULL, NULL});
}

/* 5: ml-sandbox calls Bedrock with its long-term AKIA key from a laptop. */
static void bedrock_long_term_key(struct th__gen *g)
{
    static const int times[][3] = {{10, 30, 15}, {10, 31, 2}, {10, 33, 47}};
    struct th__who user;
    th__who_user(&user, TH_DEV, "ml-sandbox", 0);
    struct th__call c = {
        .acct = TH_DEV, .reg = TH_USE1, .who = &user, .ip = TH_IP_OFFICE_ML, .ua = UA_BOTO_MAC};
    for (size_t i = 0; i < TH_N_ELEMS(times); i++) {
        c.t = at(times[i][0], times[i][1], times[i][2]);
        th__bedrock_invoke(g, c, "anthropic.claude-3-sonnet-20240229-v1:0");
    }
}

/* 4: app-reporting's instance credentials read 12 distinct secrets in under 3 minutes (the
 * role normally reads two). */
static void secret_burst(struct th__gen *g)
{
    static const char *const secrets[12] = {
        "prod/orders/db-password",
        "prod/orders/stripe-webhook-secret",
        "prod/payments/stripe-api-key",
        "prod/payments/adyen-hmac-key",
        "prod/reporting/warehouse-password",
        "prod/reporting/smtp-credentials",
        "prod/auth/jwt-signing-key",
        "prod/auth/okta-client-secret",
        "prod/crm/salesforce-token",
        "prod/github/deploy-key",
        "prod/datadog/api-key",
        "prod/backup/encryption-passphrase",
    };
    struct th__who p;
    char vpce[32];
    th__vpce_id(vpce, TH_PROD, TH_USE1);
    struct th__call c = {.acct = TH_PROD,
                         .reg = TH_USE1,
                         .who = &p,
                         .ip = "10.20.17.43",
                         .ua = TH_UA_CLI_LINUX "secretsmanager.get-secret-value",
                         .vpce = vpce};
    for (int i = 0; i < 12; i++) {
        c.t = at(11, 20, 5) + 14 * i;
        th__who_role(&p, TH_PROD, "app-reporting", "i-0a1b2c3d4e5f60718",
                     th__session_start(c.t, "app-reporting"));
        th__secret_read(g, c, secrets[i]);
    }
}

/* 1: alice changes things by hand in the prod console; the last event is made by AWS for her. */
static void clickops(struct th__gen *g)
{
    /* clang-format off */
    static const struct th__tmpl changes[] = {
        {"ec2.amazonaws.com", "DescribeSecurityGroups",
         "{\"securityGroupSet\":{},\"securityGroupIdSet\":{\"items\":[{\"groupId\":"
         "\"sg-0d4e5f6a7b8c9d0e1\"}]},\"filterSet\":{}}", NULL, NULL},
        {"ec2.amazonaws.com", "AuthorizeSecurityGroupIngress",
         "{\"groupId\":\"sg-0d4e5f6a7b8c9d0e1\",\"ipPermissions\":{\"items\":[{\"ipProtocol\":"
         "\"tcp\",\"fromPort\":22,\"toPort\":22,\"groups\":{},\"ipRanges\":{\"items\":[{\"cidrIp\":"
         "\"0.0.0.0/0\",\"description\":\"temp ssh\"}]},\"ipv6Ranges\":{},\"prefixListIds\":{}}]}}",
         "{\"_return\":true,\"securityGroupRuleSet\":{\"items\":[{\"groupOwnerId\":"
         "\"111122223333\",\"groupId\":\"sg-0d4e5f6a7b8c9d0e1\",\"securityGroupRuleId\":"
         "\"sgr-0a9b8c7d6e5f40312\",\"isEgress\":false,\"ipProtocol\":\"tcp\",\"fromPort\":22,"
         "\"toPort\":22,\"cidrIpv4\":\"0.0.0.0/0\",\"description\":\"temp ssh\"}]}}", NULL},
        {"s3.amazonaws.com", "PutBucketPolicy",
         "{\"bucketPolicy\":{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"PublicRead\","
         "\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"s3:GetObject\",\"Resource\":"
         "\"arn:aws:s3:::acme-prod-reports-use1/*\"}]},\"bucketName\":\"acme-prod-reports-use1\","
         "\"Host\":\"s3.amazonaws.com\",\"policy\":\"\"}", NULL, NULL},
    };
    /* clang-format on */
    static const int times[][3] = {{14, 1, 15}, {14, 3, 12}, {14, 6, 40}};
    struct th__who login, p, created_user;
    char mfa[64], created[40], resp[256];
    int64_t t0 = at(13, 58, 2);
    th__who_user(&login, TH_PROD, "alice", 0);
    login.key[0] = '\0';
    th__who_user(&p, TH_PROD, "alice", t0);
    snprintf(mfa, sizeof mfa, "arn:aws:iam::%s:mfa/alice", th__account_id[TH_PROD]);
    struct th__call c = {.t = t0,
                         .acct = TH_PROD,
                         .reg = TH_USE1,
                         .who = &login,
                         .ip = TH_IP_OFFICE,
                         .ua = TH_UA_CHROME,
                         .console = true};
    th__console_login(g, c, mfa);
    c.who = &p;
    for (size_t i = 0; i < TH_N_ELEMS(changes); i++) {
        c.t = at(times[i][0], times[i][1], times[i][2]);
        th__tmpl_call(g, c, &changes[i]);
    }

    c.t = at(14, 9, 5);
    th__who_user(&created_user, TH_PROD, "svc-partner-export", 0); /* for its new AKIA key */
    th__fmt_java_time(created, c.t);
    snprintf(resp, sizeof resp,
             "{\"accessKey\":{\"userName\":\"svc-partner-export\",\"accessKeyId\":\"%s\","
             "\"status\":\"Active\",\"createDate\":\"%s\"}}",
             created_user.key, created);
    th__tmpl_call(g, c,
                  &(struct th__tmpl){"iam.amazonaws.com", "CreateAccessKey",
                                     "{\"userName\":\"svc-partner-export\"}", resp, NULL});

    /* The S3 console's own agent: still a hand-made change. */
    c.t = at(14, 12, 30);
    c.ua = TH_UA_S3CONSOLE;
    th__tmpl_call(
        g, c,
        &(struct th__tmpl){"s3.amazonaws.com", "PutBucketVersioning",
                           "{\"bucketName\":\"acme-prod-reports-use1\",\"Host\":\"s3.amazonaws."
                           "com\",\"versioning\":"
                           "\"\",\"VersioningConfiguration\":{\"Status\":\"Enabled\",\"xmlns\":"
                           "\"http://s3.amazonaws.com/doc/2006-03-01/\"}}",
                           NULL, NULL});

    /* Made by AWS on alice's behalf (invokedBy "AWS Internal"): not ClickOps. */
    struct th__who internal = p;
    internal.invoked_by = "AWS Internal";
    c.who = &internal;
    c.t = at(14, 15, 10);
    c.ip = "AWS Internal";
    c.ua = "console.amazonaws.com";
    th__tmpl_call(
        g, c,
        &(struct th__tmpl){
            "iam.amazonaws.com", "CreateServiceLinkedRole",
            "{\"aWSServiceName\":\"elasticloadbalancing.amazonaws.com\"}",
            "{\"role\":{\"path\":\"/aws-service-role/elasticloadbalancing.amazonaws.com/\","
            "\"roleName\":\"AWSServiceRoleForElasticLoadBalancing\"}}",
            NULL});
}

/* 6: dave's long-term key from the New York office, then from Singapore 55 minutes later. */
static void key_travel(struct th__gen *g)
{
    struct th__who user;
    th__who_user(&user, TH_PROD, "dave", 0);
    struct th__call c = {.t = at(15, 10, 20),
                         .acct = TH_PROD,
                         .reg = TH_USE1,
                         .who = &user,
                         .ip = TH_IP_OFFICE,
                         .ua = TH_UA_CLI_MAC "s3.ls"};
    th__tmpl_call(g, c, &(struct th__tmpl)TH_TMPL_LIST_BUCKETS);
    c.t = at(16, 5, 44);
    c.ip = IP_SINGAPORE;
    c.ua = UA_ATTACKER_CLI "sts.get-caller-identity";
    th__tmpl_call(g, c, &(struct th__tmpl)TH_TMPL_GET_CALLER_IDENTITY);
    c.t = at(16, 6, 10);
    c.ua = UA_ATTACKER_CLI "s3.ls";
    th__tmpl_call(g, c, &(struct th__tmpl)TH_TMPL_LIST_BUCKETS);
}

void th__sample_attacks(struct th__gen *g)
{
    leaked_key(g);
    bedrock_long_term_key(g);
    secret_burst(g);
    clickops(g);
    key_travel(g);
}
