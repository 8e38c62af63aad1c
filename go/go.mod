module github.com/plugwire/plugwire/go

go 1.19

require (
	github.com/hashicorp/go-hclog v0.11.0
	github.com/hashicorp/yamux v0.0.0-20190923154419-df201c70410d
	github.com/vmihailenco/msgpack/v5 v5.3.5
)
