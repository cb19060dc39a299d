// pulumi-resource-random for the homelab toolchain.
//
// The Pulumi provider module (pulumi-random/provider/v4) is not served by the
// Go module proxy reachable here, and its upstream main embeds a schema that is
// generated at build time anyway. So this is our own main: it bridges the
// upstream Terraform provider (terraform-provider-random, Plugin Framework)
// with pulumi-terraform-bridge, mapping tokens the way @pulumi/random names
// them (random_password -> random:index/randomPassword:RandomPassword).
//
// This module's path sits under the upstream module's path so that Go's
// `internal` rule lets it import the upstream provider package directly.
package main

import (
	"context"
	"fmt"

	pftfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"

	upstream "github.com/terraform-providers/terraform-provider-random/internal/provider"
)

// version is set with -ldflags "-X main.version=...".
var version = "4.21.1"

func main() {
	ctx := context.Background()
	info := tfbridge.ProviderInfo{
		P:            pftfbridge.ShimProvider(upstream.New()),
		Name:         "random",
		Version:      version,
		MetadataInfo: tfbridge.NewProviderMetadata([]byte("{}")),
	}
	// No prefix is stripped: @pulumi/random keeps it (RandomPassword, RandomId, ...).
	info.MustComputeTokens(tokens.KnownModules("", "index", nil, tokens.MakeStandard("random")))
	schema := fmt.Sprintf(`{"name":"random","version":%q}`, version)
	pftfbridge.Main(ctx, "random", info, pftfbridge.ProviderMetadata{PackageSchema: []byte(schema)})
}
