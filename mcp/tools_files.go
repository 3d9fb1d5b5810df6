package mcp

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"image"
	"net/http"
	"sort"
	"strings"
	"unicode/utf8"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/sena-labs/sena/core/kernel"
	"github.com/sena-labs/sena/core/session"
)

// ListFilesInput is list_files' arguments.
type ListFilesInput struct {
	SessionID string `json:"session_id" jsonschema:"the session id"`
	Path      string `json:"path,omitempty" jsonschema:"a directory, relative to the sandbox's work dir (the kernel's working directory); default: the work dir itself"`
}

// ReadFileInput is read_file's arguments.
type ReadFileInput struct {
	SessionID string `json:"session_id" jsonschema:"the session id"`
	Path      string `json:"path" jsonschema:"a file, relative to the sandbox's work dir; files of up to 8 MiB are read"`
	Offset    int    `json:"offset,omitempty" jsonschema:"text files: first character to return; default 0"`
	Length    int    `json:"length,omitempty" jsonschema:"text files: characters to return; default and most: the server's text budget (20000 unless set)"`
	Encoding  string `json:"encoding,omitempty" jsonschema:"text (default for UTF-8 files) or base64 (the raw bytes, for binary files of up to 64 KiB); images come back as images"`
}

// WriteFileInput is write_file's arguments.
type WriteFileInput struct {
	SessionID string `json:"session_id" jsonschema:"the session id"`
	Path      string `json:"path" jsonschema:"a file, relative to the sandbox's work dir; missing directories are made, an existing file is replaced"`
	Content   string `json:"content" jsonschema:"the file's content: text, or base64 with encoding=base64; at most 8 MiB"`
	Encoding  string `json:"encoding,omitempty" jsonschema:"text (default) or base64"`
}

// maxBase64Read bounds a binary file returned as base64 text: it goes
// through the agent's context.
const maxBase64Read = 64 << 10

func (s *Server) addFileTools() {
	addTool(s, &sdk.Tool{Name: "list_files", Description: "List a directory in the sandbox (names, sizes, types), through Jupyter, so it works on every provider. " +
		"Paths are relative to the sandbox's work dir, where the kernel starts and the notebook lives; hidden files are not shown."}, s.listFiles)
	addTool(s, &sdk.Tool{Name: "read_file", Description: "Read a file in the sandbox: text a page at a time (offset, length in characters), " +
		"images as images, other binary files as base64 (up to 64 KiB). Files of up to 8 MiB; paths stay inside the work dir."}, s.readFile)
	addTool(s, &sdk.Tool{Name: "write_file", Description: "Write a file in the sandbox (text, or base64 for binary; up to 8 MiB), " +
		"such as a script or data for the kernel to use. Paths stay inside the work dir; the session's notebook is refused (use the cell tools)."}, s.writeFile)
}

func (s *Server) listFiles(ctx context.Context, _ *sdk.CallToolRequest, in ListFilesInput) (*sdk.CallToolResult, any, error) {
	live, err := s.pool.get(ctx, in.SessionID)
	if err != nil {
		return nil, nil, s.agentError(in.SessionID, err)
	}
	entries, err := live.ListFiles(ctx, in.Path)
	if err != nil {
		return nil, nil, s.agentError(in.SessionID, err)
	}
	sort.Slice(entries, func(i, j int) bool {
		if (entries[i].Type == "directory") != (entries[j].Type == "directory") {
			return entries[i].Type == "directory"
		}
		return entries[i].Name < entries[j].Name
	})
	dir := strings.Trim(in.Path, "/")
	if dir == "" {
		dir = "."
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%d entries):\n", dir, len(entries))
	for _, e := range entries {
		switch {
		case e.Type == "directory":
			fmt.Fprintf(&b, "%s/\n", e.Name)
		case e.Size != nil:
			fmt.Fprintf(&b, "%s  %s  %s\n", e.Name, bytesize(*e.Size), e.LastModified.UTC().Format("2006-01-02 15:04"))
		default:
			fmt.Fprintf(&b, "%s\n", e.Name)
		}
	}
	return textResult(clip(b.String(), s.opts.TextBudget, "list a subdirectory to see less at once")), nil, nil
}

func (s *Server) readFile(ctx context.Context, _ *sdk.CallToolRequest, in ReadFileInput) (*sdk.CallToolResult, any, error) {
	if in.Offset < 0 || in.Length < 0 {
		return nil, nil, fmt.Errorf("offset and length count characters from 0: give numbers of 0 or more")
	}
	if in.Encoding != "" && in.Encoding != "text" && in.Encoding != "base64" {
		return nil, nil, fmt.Errorf("encoding %q: want text or base64", in.Encoding)
	}
	live, err := s.pool.get(ctx, in.SessionID)
	if err != nil {
		return nil, nil, s.agentError(in.SessionID, err)
	}
	data, e, err := live.ReadFile(ctx, in.Path, session.MaxFileBytes)
	if err != nil {
		return nil, nil, s.agentError(in.SessionID, err)
	}
	return s.fileContent(e, data, in)
}

func (s *Server) fileContent(e *kernel.Entry, data []byte, in ReadFileInput) (*sdk.CallToolResult, any, error) {
	mime := http.DetectContentType(data)
	if attachable[mime] && in.Encoding != "base64" {
		img, err := prepareImage(mime, base64.StdEncoding.EncodeToString(data), s.opts.MaxImageEdge)
		if err == nil {
			note := fmt.Sprintf("%s: %s, %dx%d", e.Path, mime, img.width, img.height)
			if img.width != img.origW {
				note += fmt.Sprintf(", scaled down from %dx%d", img.origW, img.origH)
			}
			return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: note}, &sdk.ImageContent{Data: img.data, MIMEType: img.mime}}}, nil, nil
		}
	}
	binary := !utf8.Valid(data) || bytes.IndexByte(data, 0) >= 0
	if in.Encoding == "base64" || binary {
		if in.Encoding != "base64" {
			if _, _, err := image.DecodeConfig(bytes.NewReader(data)); err == nil {
				mime = "an image Sena does not attach (" + mime + ")"
			}
			return nil, nil, fmt.Errorf("%s is a binary file (%s, %d bytes), not text: read_file with encoding=base64 returns its bytes (up to %d), "+
				"or read it in the kernel", e.Path, mime, len(data), maxBase64Read)
		}
		if len(data) > maxBase64Read {
			return nil, nil, fmt.Errorf("%s is %d bytes: base64 is returned for files of up to %d bytes; read it in the kernel (execute_code)", e.Path, len(data), maxBase64Read)
		}
		return textResult(fmt.Sprintf("%s: %d bytes, base64:\n%s", e.Path, len(data), base64.StdEncoding.EncodeToString(data))), nil, nil
	}
	text := string(data)
	length := in.Length
	if length == 0 || length > s.opts.TextBudget {
		length = s.opts.TextBudget
	}
	total := utf8.RuneCountInString(text)
	if in.Offset > total {
		return nil, nil, fmt.Errorf("offset %d is past the end: %s has %d characters", in.Offset, e.Path, total)
	}
	end := min(total, in.Offset+length)
	var b strings.Builder
	if in.Offset > 0 || end < total {
		fmt.Fprintf(&b, "%s: characters %d to %d of %d\n", e.Path, in.Offset, end, total)
	}
	b.WriteString(text[runeIndex(text, in.Offset):runeIndex(text, end)])
	if end < total {
		fmt.Fprintf(&b, "\n[%d characters more: read_file(path=%q, offset=%d)]", total-end, e.Path, end)
	}
	return textResult(b.String()), nil, nil
}

func (s *Server) writeFile(ctx context.Context, _ *sdk.CallToolRequest, in WriteFileInput) (*sdk.CallToolResult, any, error) {
	data := []byte(in.Content)
	switch in.Encoding {
	case "", "text":
	case "base64":
		var err error
		if data, err = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(in.Content), "")); err != nil {
			return nil, nil, fmt.Errorf("content is not valid base64: %v", err)
		}
	default:
		return nil, nil, fmt.Errorf("encoding %q: want text or base64", in.Encoding)
	}
	live, err := s.pool.get(ctx, in.SessionID)
	if err != nil {
		return nil, nil, s.agentError(in.SessionID, err)
	}
	if err := live.WriteFile(ctx, in.Path, data); err != nil {
		return nil, nil, s.agentError(in.SessionID, err)
	}
	return textResult(fmt.Sprintf("[written] %s: %d bytes (open(%q) in the kernel reads it)", strings.Trim(in.Path, "/"), len(data), strings.Trim(in.Path, "/"))), nil, nil
}
