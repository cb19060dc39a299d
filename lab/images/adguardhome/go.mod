module homelab.lab/adguardhome-standin

go 1.26.0

require (
	github.com/miekg/dns v1.1.68
	golang.org/x/crypto v0.59.0
	gopkg.in/yaml.v3 v3.0.1
)

require (
	golang.org/x/mod v0.24.0 // indirect
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/sync v0.14.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/tools v0.33.0 // indirect
)
