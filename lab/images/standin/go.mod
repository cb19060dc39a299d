module homelab.local/lab/images/standin

go 1.22
