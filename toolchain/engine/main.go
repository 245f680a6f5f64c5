//go:build tools

// Package engine pins the Pulumi engine (CLI) for Sahab.
//
// The upstream main package cannot be installed with `go install pkg@version`
// because pkg/go.mod carries replace directives, and a main package cannot be
// imported. This wrapper module requires pkg/v3 and sdk/v3 at the same version
// (replace directives of dependencies are ignored here), so that
//
//	go build -trimpath -tags osusergo,grpcnotrace \
//	  -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=vX.Y.Z" \
//	  github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
//
// run inside this directory builds the engine from exactly the build list
// recorded in go.mod/go.sum. toolchain/ensure-pulumi does that.
//
// The blank import below keeps the engine's packages in go.mod/go.sum when
// running `go mod tidy`; the "tools" build tag keeps this file out of builds.
package engine

import (
	_ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
)
