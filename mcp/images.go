package mcp

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"strings"

	"golang.org/x/image/draw"
)

// attachable are the image types sent to agents as MCP image content; the
// rest (SVG, GIF, WebP) are named in the text only.
var attachable = map[string]bool{"image/png": true, "image/jpeg": true}

// agentImage is an image ready for an MCP ImageContent.
type agentImage struct {
	data          []byte // raw bytes: the SDK base64-encodes them
	mime          string
	width, height int // as sent
	origW, origH  int
}

// prepareImage decodes a notebook image (base64, as Jupyter sends it) and
// scales it down so its long edge is at most maxEdge: vision models downscale
// larger images anyway, and pay for every pixel sent.
func prepareImage(mime, b64 string, maxEdge int) (*agentImage, error) {
	// Jupyter wraps base64 in lines; the decoder skips \r and \n but not spaces.
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(b64), ""))
	if err != nil {
		return nil, fmt.Errorf("bad base64: %v", err)
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	img := &agentImage{data: raw, mime: mime, width: cfg.Width, height: cfg.Height, origW: cfg.Width, origH: cfg.Height}
	long := max(cfg.Width, cfg.Height)
	if maxEdge <= 0 || long <= maxEdge {
		return img, nil
	}
	src, _, err := image.Decode(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	img.width = max(1, cfg.Width*maxEdge/long)
	img.height = max(1, cfg.Height*maxEdge/long)
	dst := image.NewRGBA(image.Rect(0, 0, img.width, img.height))
	draw.CatmullRom.Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Src, nil)
	var buf bytes.Buffer
	if mime == "image/jpeg" {
		err = jpeg.Encode(&buf, dst, &jpeg.Options{Quality: 90})
	} else {
		err = png.Encode(&buf, dst)
	}
	if err != nil {
		return nil, err
	}
	img.data = buf.Bytes()
	return img, nil
}
