// pulumi-resource-docker for the homelab toolchain.
//
// The Pulumi provider module (pulumi-docker/provider/v5) is not served by the
// Go module proxy reachable here (see ../README.md). So this is our own main:
// it bridges the upstream Terraform provider that pulumi-docker bridges
// (kreuzwerker/terraform-provider-docker, whose go.mod names itself
// github.com/terraform-providers/terraform-provider-docker) with
// pulumi-terraform-bridge, and maps tokens the way @pulumi/docker names them.
//
// Only the provider's SDKv2 half is served (container, image, network, volume,
// config, secret, service, plugin, tag, registry_image, buildx_builder and
// their data sources); docker:index/image:Image, which pulumi-docker implements
// natively in Go rather than bridging, is not part of this build.
//
// This module's path sits under the upstream module's path so that Go's
// `internal` rule lets it import the upstream provider package directly.
package main

import (
	"fmt"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"
	shimv2 "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim/sdk-v2"

	upstream "github.com/terraform-providers/terraform-provider-docker/internal/provider"
)

// version is set with -ldflags "-X main.version=...".
var version = "5.2.0"

func main() {
	info := tfbridge.ProviderInfo{
		P:            shimv2.NewProvider(upstream.New(version)()),
		Name:         "docker",
		Version:      version,
		MetadataInfo: tfbridge.NewProviderMetadata([]byte("{}")),
		// The overrides below make names match the published @pulumi/docker SDK.
		Config: map[string]*tfbridge.SchemaInfo{
			"host": {Default: &tfbridge.DefaultInfo{
				Value:   "unix:///var/run/docker.sock",
				EnvVars: []string{"DOCKER_HOST"},
			}},
			"registry_auth": {Name: "registryAuth", MaxItemsOne: tfbridge.False()},
		},
		Resources: map[string]*tfbridge.ResourceInfo{
			"docker_config": {Tok: "docker:index/serviceConfig:ServiceConfig"},
			"docker_container": {
				DeleteBeforeReplace: true,
				Fields: map[string]*tfbridge.SchemaInfo{
					"command":           {Name: "command"},
					"networks_advanced": {Name: "networksAdvanced"},
				},
			},
			"docker_image": {
				Tok:    "docker:index/remoteImage:RemoteImage",
				Fields: map[string]*tfbridge.SchemaInfo{"name": {Name: "name"}},
			},
		},
		DataSources: map[string]*tfbridge.DataSourceInfo{
			"docker_image": {Tok: "docker:index/getRemoteImage:getRemoteImage"},
		},
	}
	info.MustComputeTokens(tokens.KnownModules("docker_", "index", nil, tokens.MakeStandard("docker")))
	info.SetAutonaming(255, "-")
	schema := fmt.Sprintf(`{"name":"docker","version":%q}`, version)
	tfbridge.Main("docker", version, info, []byte(schema))
}
