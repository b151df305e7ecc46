package hw

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/devices/v3/ssd1306"
	"periph.io/x/devices/v3/ssd1306/image1bit"
)

// Display is a one-bit screen of DisplayWidth x DisplayHeight pixels.
type Display interface {
	// Draw shows the frame. It may send only what changed since the last
	// successful Draw; after an error the next Draw sends everything.
	Draw(frame *image1bit.VerticalLSB) error
	// SetContrast sets the brightness, 0 (dimmest, still readable) to 255.
	SetContrast(level byte) error
	// Halt blanks the screen.
	Halt() error
}

// Contrast levels by day and by night. The SSD1306 is still readable at 1
// in a dark room, and an OLED ages with its brightness.
const (
	ContrastDay   = 0xff
	ContrastNight = 0x01
)

// packFrame converts the rendered frame to the display's format: a pixel is
// on where the grey level is at least half.
func packFrame(src *image.Gray, dst *image1bit.VerticalLSB) {
	clear(dst.Pix)
	w := dst.Rect.Dx()
	for y := 0; y < DisplayHeight; y++ {
		row := src.Pix[y*src.Stride : y*src.Stride+DisplayWidth]
		page := dst.Pix[(y/8)*w : (y/8)*w+w]
		bit := byte(1) << (y % 8)
		for x, v := range row {
			if v >= 0x80 {
				page[x] |= bit
			}
		}
	}
}

// EncodePNG writes the frame as a two-colour PNG: the lit colour is white
// at full contrast and grey when dimmed, as the OLED looks.
func EncodePNG(frame *image.Gray, contrast byte) ([]byte, error) {
	lit := uint8(0xff)
	if contrast < 0x80 {
		lit = 0x70
	}
	img := image.NewPaletted(frame.Rect, color.Palette{color.Gray{0}, color.Gray{lit}})
	for i, v := range frame.Pix {
		if v >= 0x80 {
			img.Pix[i] = 1
		}
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("encode display frame: %w", err)
	}
	return buf.Bytes(), nil
}

// SSD1306Options configures NewSSD1306.
type SSD1306Options struct {
	// Addr is the display's I²C address: 0x3C (most boards) or 0x3D. 0
	// means 0x3C.
	Addr uint16
	// Rotated turns the picture by 180° for a display mounted upside down.
	Rotated bool
}

// ssd1306Display drives an SSD1306 128x64 over I²C with periph's driver. The
// driver sends only the rectangle that changed and nothing for an unchanged
// frame. After a failed transfer the driver's idea of the screen may be
// wrong, so the device is set up afresh (init commands and a whole frame)
// on the next Draw.
type ssd1306Display struct {
	bus  i2c.Bus
	opts SSD1306Options
	dev  *ssd1306.Dev // nil: set up on the next call
	// contrast is re-sent after a new setup.
	contrast byte
}

// NewSSD1306 sets up the display on bus and clears it. It fails when no
// display answers.
func NewSSD1306(bus i2c.Bus, opts SSD1306Options) (Display, error) {
	if opts.Addr == 0 {
		opts.Addr = 0x3C
	}
	d := &ssd1306Display{bus: bus, opts: opts, contrast: ContrastDay}
	if err := d.open(); err != nil {
		return nil, err
	}
	return d, nil
}

// driverAddr is the address periph's NewI2C always uses.
const driverAddr = 0x3C

func (d *ssd1306Display) open() error {
	var bus i2c.Bus = d.bus
	if d.opts.Addr != driverAddr {
		bus = &addrBus{Bus: d.bus, addr: d.opts.Addr}
	}
	o := ssd1306.DefaultOpts
	o.Rotated = d.opts.Rotated
	dev, err := ssd1306.NewI2C(bus, &o)
	if err != nil {
		return fmt.Errorf("ssd1306 at %#x on %s: %w", d.opts.Addr, d.bus, err)
	}
	if d.contrast != ContrastDay {
		if err := dev.SetContrast(d.contrast); err != nil {
			return fmt.Errorf("ssd1306 at %#x: contrast: %w", d.opts.Addr, err)
		}
	}
	d.dev = dev
	return nil
}

func (d *ssd1306Display) Draw(frame *image1bit.VerticalLSB) error {
	if d.dev == nil {
		if err := d.open(); err != nil {
			return err
		}
	}
	if _, err := d.dev.Write(frame.Pix); err != nil {
		d.dev = nil
		return fmt.Errorf("ssd1306 at %#x: draw: %w", d.opts.Addr, err)
	}
	return nil
}

func (d *ssd1306Display) SetContrast(level byte) error {
	d.contrast = level
	if d.dev == nil {
		return nil // sent by open
	}
	if err := d.dev.SetContrast(level); err != nil {
		d.dev = nil
		return fmt.Errorf("ssd1306 at %#x: contrast: %w", d.opts.Addr, err)
	}
	return nil
}

func (d *ssd1306Display) Halt() error {
	if d.dev == nil {
		return nil
	}
	err := d.dev.Halt()
	if c, ok := d.bus.(interface{ Close() error }); ok {
		err = errors.Join(err, c.Close())
	}
	d.dev = nil
	return err
}

// addrBus sends periph's ssd1306 driver, which always talks to 0x3C, to
// another address.
type addrBus struct {
	i2c.Bus
	addr uint16
}

func (b *addrBus) Tx(addr uint16, w, r []byte) error {
	if addr == driverAddr {
		addr = b.addr
	}
	return b.Bus.Tx(addr, w, r)
}
