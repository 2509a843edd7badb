/*
 * cli_main.c - `trailhound COMMAND ...`: dispatches to the command table of cli.h, and
 * answers `trailhound --help` and `trailhound version`.
 */
#include "cli.h"

#include <json-c/json_c_version.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>
#include <zlib.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "attack.h"

static const struct {
    const char *name;
    const char *summary;
    int (*fn)(int argc, char **argv);
} commands[] = {
#define TH_CLI_ENTRY(name, summary, fn) {#name, summary, fn},
    TH_COMMAND_MAP(TH_CLI_ENTRY)
#undef TH_CLI_ENTRY
};

static void usage(FILE *fp)
{
    fprintf(fp, "usage: trailhound COMMAND [OPTIONS] ...\n\n"
                "A detection engine for AWS CloudTrail: Datadog Cloud SIEM rules over\n"
                "CloudTrail files, directories, stdin or Kafka.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(fp, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(fp, "\n`trailhound COMMAND --help` describes a command's options.\n"
                "Exit codes: 0 success; 1 signals with --fail-on-signal (hunt: no match);\n"
                "2 usage, configuration or rule errors; 3 some input could not be read.\n");
}

int th__cli_version(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: trailhound version\n\nPrints the version of trailhound, the ATT&CK "
               "version its names come from, and the libraries it was built with.\n");
        return TH_EXIT_OK;
    }
    char pcre[64] = "";
    pcre2_config(PCRE2_CONFIG_VERSION, pcre);
    printf("trailhound %s\n", TH_VERSION);
    printf("ATT&CK Enterprise %s\n", th__attack_version());
    printf("json-c %s, PCRE2 %s, libyaml %s, zlib %s\n", json_c_version(), pcre,
           yaml_get_version_string(), zlibVersion());
    return TH_EXIT_OK;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return TH_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return TH_EXIT_OK;
    }
    if (!strcmp(cmd, "--version"))
        cmd = "version";
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(cmd, commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    th__cli_error("unknown command '%s'; see 'trailhound --help'", cmd);
    return TH_EXIT_USAGE;
}
