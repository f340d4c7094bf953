// `kitgate k8s render`: a kit's Kubernetes objects (orchestrator/cli/k8s_render.h).
#pragma once

#include "orchestrator/cli/app.h"

namespace kitgate::cli {

int runK8sCommand(const Args& args, Io& io);

}  // namespace kitgate::cli
