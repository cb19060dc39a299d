module homelab.local/lab/images/whoami

go 1.22
