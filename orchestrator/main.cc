// kitgate: the CLI / orchestrator. All behaviour lives in kitgate_cli.
#include "orchestrator/cli/app.h"

int main(int argc, char** argv) { return kitgate::cli::runCli(argc, argv); }
