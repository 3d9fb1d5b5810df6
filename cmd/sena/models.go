package main

import "github.com/sena-labs/sena/core/session"

// newModelFetcher returns the model downloader `up --model` uses.
func newModelFetcher(jsonProgress bool) session.ModelFetcher {
	return nil // wired to the hub client once it lands
}
