// pulumi-resource-tls for the homelab toolchain.
//
// The Pulumi provider module (pulumi-tls/provider/v5) is not served by the Go
// module proxy reachable here, and its upstream main embeds a schema that is
// generated at build time anyway. So this is our own main: it bridges the
// upstream Terraform provider (terraform-provider-tls, Plugin Framework) with
// pulumi-terraform-bridge, mapping tokens the way @pulumi/tls names them
// (tls_private_key -> tls:index/privateKey:PrivateKey).
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

	upstream "github.com/hashicorp/terraform-provider-tls/internal/provider"
)

// version is set with -ldflags "-X main.version=...".
var version = "5.5.1"

func main() {
	ctx := context.Background()
	info := tfbridge.ProviderInfo{
		P:            pftfbridge.ShimProvider(upstream.New()),
		Name:         "tls",
		Version:      version,
		MetadataInfo: tfbridge.NewProviderMetadata([]byte("{}")),
	}
	info.MustComputeTokens(tokens.KnownModules("tls_", "index", nil, tokens.MakeStandard("tls")))
	schema := fmt.Sprintf(`{"name":"tls","version":%q}`, version)
	pftfbridge.Main(ctx, "tls", info, pftfbridge.ProviderMetadata{PackageSchema: []byte(schema)})
}
