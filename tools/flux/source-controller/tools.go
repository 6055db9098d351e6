//go:build tools

// Package tools pins the source-controller command so `go mod tidy` keeps its dependencies.
package tools

import _ "github.com/fluxcd/source-controller"
