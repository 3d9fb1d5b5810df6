// Command hubserve serves a model directory as a Hugging Face Hub repo on
// loopback (hub/hubtest), so Sena's real download path can be measured on a
// machine with no network. It prints the endpoint URL, then serves until
// killed.
//
//	hubserve -repo bench/llama-1b -dir /tmp/model
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"

	"github.com/sena-labs/sena/hub/hubtest"
)

func main() {
	repo := flag.String("repo", "", "repo id to serve the directory as (ORG/NAME)")
	dir := flag.String("dir", "", "directory whose files form the repo")
	flag.Parse()
	if *repo == "" || *dir == "" {
		log.Fatal("usage: hubserve -repo ORG/NAME -dir DIR")
	}
	files := map[string][]byte{}
	err := filepath.WalkDir(*dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(*dir, p)
		data, err := os.ReadFile(p)
		files[filepath.ToSlash(rel)] = data
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	s := hubtest.Start()
	defer s.Close()
	s.AddRepo(*repo, "main", files)
	fmt.Println(s.URL)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	<-sig
}
