//go:build tools

// Package tools records the upstream commands this module builds, so that
// `go mod tidy` keeps their dependencies in go.sum.
package tools

import (
	_ "github.com/Shopify/toxiproxy/v2/cmd/cli"
	_ "github.com/Shopify/toxiproxy/v2/cmd/server"
)
