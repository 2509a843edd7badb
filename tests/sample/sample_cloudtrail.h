/*
 * sample_cloudtrail.h - the sample's world (accounts, regions, the two days, stable addresses
 * and user agents) and the CloudTrail record shapes: identities (userIdentity), the event
 * envelope (the fields every record has, in CloudTrail's order), and one helper per API shape
 * (S3 object calls, KMS, Secrets Manager, STS AssumeRole, ConsoleLogin, Bedrock, and literal
 * templates for everything else).
 *
 * A call is described in two halves: the caller fills who, when and where (t, acct, reg, who,
 * ip, ua, vpce, console, err); the helpers fill what (eventSource, eventName, readOnly, category,
 * resources) and write the body. Helpers take struct th__call by value and never change the
 * caller's copy.
 */
#ifndef TH_SAMPLE_CLOUDTRAIL_H
#define TH_SAMPLE_CLOUDTRAIL_H

#include "sample_util.h"

#define TH_DAY0 1709510400LL /* 2024-03-04T00:00:00Z */
#define TH_NDAYS 2
#define TH_DAY2 (TH_DAY0 + 86400) /* 2024-03-05, the attacks' day */
#define TH_END (TH_DAY0 + TH_NDAYS * 86400LL)
#define TH_TRAIL "org-trail"
#define TH_LOG_BUCKET "acme-org-cloudtrail"

enum { TH_PROD, TH_DEV, TH_SEC, TH_NACCT };
enum { TH_USE1, TH_EUW1, TH_USW2, TH_NREG };

/* The three accounts' ids and environment names (prod, dev, security). */
extern const char *const th__account_id[TH_NACCT];
extern const char *const th__account_env[TH_NACCT];
/* Region names and the short forms used in bucket names (use1, ...). */
extern const char *const th__region[TH_NREG];
extern const char *const th__region_short[TH_NREG];

/* clang-format off */
/* Stable addresses of the normal traffic (the attackers' are in sample_attacks.c). */
#define TH_IP_OFFICE "203.0.113.10"   /* New York office NAT: alice, dave */
#define TH_IP_OFFICE_ROOT "203.0.113.14"
#define TH_IP_OFFICE_ML "203.0.113.25"
#define TH_IP_BOB "192.0.2.44"        /* bob works from London */
#define TH_IP_FED "192.0.2.80"        /* the on-premises federation broker */
#define TH_IP_CI "198.51.100.7"       /* GitLab runners' NAT */
#define TH_IP_MONITOR "198.51.100.20" /* Grafana's NAT */
#define TH_IP_SCANNER "198.51.100.30" /* the security scanner's NAT */
#define TH_IP_BACKUP "198.51.100.50"  /* the on-premises backup server */

#define TH_UA_JAVA \
    "aws-sdk-java/2.20.162 Linux/5.10.205-195.807.amzn2.x86_64 " \
    "OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS Java/17.0.10 vendor/Amazon.com_Inc. " \
    "exec-env/AWS_ECS_FARGATE io/sync http/Apache cfg/retry-mode/legacy"
#define TH_UA_LAMBDA \
    "Boto3/1.34.51 md/Botocore#1.34.51 ua/2.0 os/linux#5.10.209-220.824.amzn2.x86_64 " \
    "md/arch#x86_64 lang/python#3.11.8 md/pyimpl#CPython exec-env/AWS_Lambda_python3.11 " \
    "cfg/retry-mode#legacy Botocore/1.34.51"
#define TH_UA_EC2 \
    "Boto3/1.34.51 md/Botocore#1.34.51 ua/2.0 os/linux#5.10.210-201.852.amzn2.x86_64 " \
    "md/arch#x86_64 lang/python#3.9.16 md/pyimpl#CPython cfg/retry-mode#legacy " \
    "Botocore/1.34.51"
#define TH_UA_GO "aws-sdk-go/1.50.10 (go1.21.6; linux; amd64)"
#define TH_UA_CLI_MAC "aws-cli/2.15.22 Python/3.11.6 Darwin/23.3.0 exe/x86_64 prompt/off command/"
#define TH_UA_CLI_LINUX \
    "aws-cli/2.15.22 Python/3.11.6 Linux/5.10.210-201.852.amzn2.x86_64 exe/x86_64.amzn.2 " \
    "prompt/off command/"
#define TH_UA_TF \
    "APN/1.0 HashiCorp/1.0 Terraform/1.7.4 (+https://www.terraform.io) " \
    "terraform-provider-aws/5.40.0 " \
    "(+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.25.2 " \
    "os/linux lang/go#1.21.8 md/GOOS#linux md/GOARCH#amd64"
#define TH_UA_CHROME \
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like " \
    "Gecko) Chrome/122.0.0.0 Safari/537.36"
#define TH_UA_FIREFOX \
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:123.0) Gecko/20100101 Firefox/123.0"
#define TH_UA_S3CONSOLE \
    "[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.488 " \
    "Linux/5.10.198-166.740.amzn2int.x86_64 OpenJDK_64-Bit_Server_VM/25.372-b08 " \
    "java/1.8.0_372 vendor/Oracle_Corporation cfg/retry-mode/standard]"
/* clang-format on */

/* A userIdentity. */
struct th__who {
    const char *type; /* NULL: no "type" member (service events) */
    char pid[96], arn[192], acct[16], key[24], user[64];
    char created[24];     /* set: a sessionContext is written */
    const char *mfa;      /* sessionContext.attributes.mfaAuthenticated */
    const char *iss_type; /* NULL: an empty sessionIssuer */
    char iss_pid[32], iss_arn[192], iss_user[96];
    const char *invoked_by;
};

/* An AssumedRole session of role in account a, created at created (the session name and the
 * creation time make the ASIA key). SSO roles (AWSReservedSSO_*) get the aws-reserved path. */
void th__who_role(struct th__who *p, int a, const char *role, const char *session, int64_t created);

/* An IAMUser: its long-term AKIA key when console is 0, else a console session (ASIA key,
 * MFA-authenticated) created at console. */
void th__who_user(struct th__who *p, int a, const char *user, int64_t console);

/* The account's root user in a console session created at console. */
void th__who_root(struct th__who *p, int a, int64_t console);

/* An AWSService identity invoked by service ("s3.amazonaws.com", "AWS Internal"); borrowed. */
void th__who_service(struct th__who *p, const char *service);

/* The start of the hourly session of role that contains t (the minute is stable per role). */
int64_t th__session_start(int64_t t, const char *role);

/* One API call (see the file comment for who fills what). Strings are borrowed. */
struct th__call {
    int64_t t;
    int acct, reg; /* recipient account, awsRegion */
    const struct th__who *who;
    const char *ip, *ua; /* ua NULL: no userAgent member */
    const char *vpce;    /* vpcEndpointId, or NULL */
    bool console;        /* sessionCredentialFromConsole: "true" */
    const char *err, *errmsg;
    const char *src, *name;
    const char *etype;      /* NULL: AwsApiCall (which alone has a requestID) */
    bool ro, data;          /* readOnly; eventCategory Data (managementEvent false) */
    const char *host;       /* TLS host header; NULL: derived from src and region */
    const char *request_id; /* NULL: a UUID */
    const char *details;    /* serviceEventDetails (JSON), or NULL */
    int nres;
    struct {
        const char *type;
        char arn[224];
    } res[2];
};

/* Appends a resource (type borrowed, ARN formatted) to c; at most two. */
__attribute__((format(printf, 3, 4))) void th__add_res(struct th__call *c, const char *type,
                                                       const char *fmt, ...);

/* Starts c's record in g's buffer up to errorMessage and returns the writer, on which the
 * caller writes requestParameters, responseElements and additionalEventData (borrowed until
 * th__ev_end). */
struct th__jw *th__ev_begin(struct th__gen *g, const struct th__call *c);

/* Finishes the record (requestID ... sessionCredentialFromConsole) and appends a copy to g's
 * events. Records outside the sample's two days are dropped. */
void th__ev_end(struct th__gen *g, const struct th__call *c);

/* A literal call: requestParameters / responseElements are JSON text (NULL: null); cli is the
 * aws-cli command for user agents that name it. readOnly comes from the name's verb. */
struct th__tmpl {
    const char *src, *name, *params, *resp, *cli;
};
#define TH_TMPL_GET_CALLER_IDENTITY                                                                \
    {                                                                                              \
        "sts.amazonaws.com", "GetCallerIdentity", NULL, NULL, "sts.get-caller-identity"            \
    }
#define TH_TMPL_LIST_BUCKETS                                                                       \
    {                                                                                              \
        "s3.amazonaws.com", "ListBuckets", "{\"Host\":\"s3.us-east-1.amazonaws.com\"}", NULL,      \
            "s3.ls"                                                                                \
    }

/* Writes a literal call; global services (IAM, sign-in, Health, Cost Explorer) log in
 * us-east-1 whatever c.reg says. */
void th__tmpl_call(struct th__gen *g, struct th__call c, const struct th__tmpl *t);

/* The ARN of the account-region's KMS key for purpose (stable). */
void th__kms_key_arn(char out[128], int a, int r, const char *purpose);

/* The name of a bucket: acme-<env>-<purpose>-<region short>. */
void th__bucket_name(char out[64], int a, int r, const char *purpose);

/* The id of the account-region's VPC endpoint (stable): vpce-0 + 16 hex digits. */
void th__vpce_id(char out[32], int a, int r);

/* KMS Decrypt (or GenerateDataKey) with one encryption-context pair. */
void th__kms_call(struct th__gen *g, struct th__call c, bool generate, const char *purpose,
                  const char *ctx_key, const char *ctx_val);

/* An S3 data event: op is GetObject, PutObject or HeadObject, size the object's bytes. */
void th__s3_object(struct th__gen *g, struct th__call c, const char *op, const char *bucket,
                   const char *key, unsigned size);

/* Secrets Manager GetSecretValue, then (on success) the KMS Decrypt it makes on the caller's
 * behalf (invokedBy secretsmanager.amazonaws.com). */
void th__secret_read(struct th__gen *g, struct th__call c, const char *secret);

/* STS AssumeRole of role (in c.acct) as session, with the credentials in the response. */
void th__assume_role(struct th__gen *g, struct th__call c, const char *role, const char *session);

/* A successful ConsoleLogin (logged in us-east-1); mfa_device NULL: MFAUsed "No". */
void th__console_login(struct th__gen *g, struct th__call c, const char *mfa_device);

/* Bedrock InvokeModel of model. */
void th__bedrock_invoke(struct th__gen *g, struct th__call c, const char *model);

#endif
