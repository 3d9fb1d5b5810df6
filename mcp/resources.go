package mcp

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/sena-labs/sena/core/notebook"
)

// Each session's notebook and every output in it are MCP resources, so a
// client can fetch them lazily, also from another machine:
//
//	sena://sessions/ID/notebook                 the .ipynb (application/x-ipynb+json)
//	sena://sessions/ID/cells/CELL/outputs/N     output N of a cell (by id or index), in full
const resourcePrefix = "sena://sessions/"

func (s *Server) addResources() {
	s.sdk.AddResourceTemplate(&sdk.ResourceTemplate{
		Name: "notebook", Title: "A session's notebook", MIMEType: "application/x-ipynb+json",
		URITemplate: resourcePrefix + "{session_id}/notebook",
		Description: "The session's notebook as nbformat 4.5 JSON, as last saved (also after the session is shut down).",
	}, s.readResource)
	s.sdk.AddResourceTemplate(&sdk.ResourceTemplate{
		Name: "output", Title: "One output of a notebook cell",
		URITemplate: resourcePrefix + "{session_id}/cells/{cell}/outputs/{output}",
		Description: "Output N (from 0) of a cell, by the cell's id or its index among all cells, in full: " +
			"text as text/plain (or the HTML, SVG or JSON of outputs that have only those), images as their bytes.",
	}, s.readResource)
}

// addNotebookResource lists a session's notebook in resources/list.
func (s *Server) addNotebookResource(id string) {
	s.sdk.AddResource(&sdk.Resource{
		Name: "notebook " + id, URI: resourcePrefix + id + "/notebook", MIMEType: "application/x-ipynb+json",
		Description: "The notebook of session " + id,
	}, s.readResource)
}

func (s *Server) readResource(ctx context.Context, req *sdk.ReadResourceRequest) (*sdk.ReadResourceResult, error) {
	uri := req.Params.URI
	rest, ok := strings.CutPrefix(uri, resourcePrefix)
	if !ok {
		return nil, sdk.ResourceNotFoundError(uri)
	}
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 2 && parts[1] == "notebook":
		if _, err := s.m.NotebookFile(parts[0]); err != nil {
			return nil, sdk.ResourceNotFoundError(uri)
		}
		data, err := os.ReadFile(s.m.Store().NotebookPath(parts[0]))
		if err != nil {
			return nil, sdk.ResourceNotFoundError(uri)
		}
		return &sdk.ReadResourceResult{Contents: []*sdk.ResourceContents{{URI: uri, MIMEType: "application/x-ipynb+json", Text: string(data)}}}, nil
	case len(parts) == 5 && parts[1] == "cells" && parts[3] == "outputs":
		k, err := strconv.Atoi(parts[4])
		if err != nil {
			return nil, fmt.Errorf("%s: the output index %q is not a number", uri, parts[4])
		}
		nb, err := s.notebookOf(parts[0])
		if err != nil {
			return nil, sdk.ResourceNotFoundError(uri)
		}
		c, _, o, err := findOutput(nb, notebook.RefID(parts[2]), k)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", uri, err)
		}
		part, err := s.outputPart(c, k, o, "")
		if err != nil {
			return nil, fmt.Errorf("%s: %v", uri, err)
		}
		if part.image != nil {
			return &sdk.ReadResourceResult{Contents: []*sdk.ResourceContents{{URI: uri, MIMEType: part.mime, Blob: part.raw}}}, nil
		}
		return &sdk.ReadResourceResult{Contents: []*sdk.ResourceContents{{URI: uri, MIMEType: part.mime, Text: part.text}}}, nil
	}
	return nil, sdk.ResourceNotFoundError(uri)
}
