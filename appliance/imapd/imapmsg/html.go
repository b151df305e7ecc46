package imapmsg

import (
	"io"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// htmlTextMaxToken bounds one token (a run of text, a tag) that the
// tokenizer holds whole; a part with a longer one is searched up to it.
const htmlTextMaxToken = 1 << 20

// htmlText writes the text a reader of HTML sees to w: the markup goes,
// entities are decoded (&amp; is "&"), script and style contents and
// comments are left out, and block elements (paragraphs, breaks, cells)
// separate words with a space, so that "<p>Hello <b>World</b></p>"
// reads "Hello World" and matches a search for "hello world", while a
// search for "<b>" does not match the markup.
func htmlText(w io.Writer, r io.Reader) error {
	z := html.NewTokenizer(r)
	z.SetMaxBuf(htmlTextMaxToken)
	skip := atom.Atom(0) // inside <script> or <style> until its end tag
	space := []byte{' '}
	for {
		switch z.Next() {
		case html.ErrorToken:
			if err := z.Err(); err != io.EOF && err != html.ErrBufferExceeded {
				return err
			}
			return nil
		case html.TextToken:
			if skip == 0 {
				if _, err := w.Write(z.Text()); err != nil {
					return err
				}
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			a := atom.Lookup(name)
			if a == atom.Script || a == atom.Style {
				skip = a
			} else if breaksWords(a) {
				if _, err := w.Write(space); err != nil {
					return err
				}
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			a := atom.Lookup(name)
			if a == skip {
				skip = 0
			} else if breaksWords(a) {
				if _, err := w.Write(space); err != nil {
					return err
				}
			}
		}
	}
}

// breaksWords tells the elements that end a word where they stand; inline
// ones (<b>, <a>, <span>) do not: "<b>Wor</b>ld" is one word.
func breaksWords(a atom.Atom) bool {
	switch a {
	case atom.P, atom.Br, atom.Div, atom.Td, atom.Th, atom.Tr, atom.Li, atom.Ul, atom.Ol,
		atom.Table, atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6, atom.Hr,
		atom.Blockquote, atom.Pre, atom.Title, atom.Section, atom.Article, atom.Header,
		atom.Footer, atom.Img, atom.Dd, atom.Dt, atom.Body, atom.Head:
		return true
	}
	return false
}
