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
	// keptOriginal: the image was over maxEdge but scaling it made it
	// larger in bytes (flat plots compress better than their resampled,
	// anti-aliased copies), so the original was sent.
	keptOriginal bool
}

// prepareImage decodes a notebook image (base64, as Jupyter sends it) and
// scales it down so its long edge is at most maxEdge: vision models downscale
// larger images anyway, and pay for every pixel sent. When the scaled copy
// would be larger in bytes than the original, the original is sent: the
// model then scales it itself, at no extra cost in tokens.
func prepareImage(mime, b64 string, maxEdge int) (*agentImage, error) {
	raw, err := decodeBase64(b64)
	if err != nil {
		return nil, err
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
		err = (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, dst)
	}
	if err != nil {
		return nil, err
	}
	if buf.Len() >= len(raw) {
		img.width, img.height, img.keptOriginal = cfg.Width, cfg.Height, true
		return img, nil
	}
	img.data = buf.Bytes()
	return img, nil
}

// decodeBase64 decodes a notebook's base64, which Jupyter wraps in lines
// (the decoder skips \r and \n but not spaces).
func decodeBase64(b64 string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(b64), ""))
	if err != nil {
		return nil, fmt.Errorf("bad base64: %v", err)
	}
	return raw, nil
}
