package wire

// Character classes of RFC 9051 9 (formal syntax), as tables.
var (
	atomChar  [256]bool // ATOM-CHAR
	wordChar  [256]bool // what a bare word may hold before its grammar is known
	quoteable [256]bool // may go inside a quoted string as written
)

func init() {
	for c := 0x21; c < 0x7f; c++ {
		switch c {
		case '(', ')', '{', '%', '*', '"', '\\', ']':
		default:
			atomChar[c] = true
		}
		switch c {
		case '(', ')', '{', '"':
		default:
			wordChar[c] = true
		}
	}
	for c := 0x80; c < 0x100; c++ {
		wordChar[c] = true // 8-bit mailbox names are judged by the caller
	}
	for c := 0x20; c < 0x7f; c++ {
		quoteable[c] = true
	}
}

// isAtomChar reports ATOM-CHAR.
func isAtomChar(c byte) bool { return atomChar[c] }

// isAStringChar reports ASTRING-CHAR: ATOM-CHAR or "]".
func isAStringChar(c byte) bool { return atomChar[c] || c == ']' }

// isTagChar reports a tag's character: ASTRING-CHAR except "+".
func isTagChar(c byte) bool { return isAStringChar(c) && c != '+' }

// isWordChar reports what the reader takes into a bare word: everything
// but SP, CTL, parentheses, "{" and DQUOTE. Typed parsers judge the word.
func isWordChar(c byte) bool { return wordChar[c] }
