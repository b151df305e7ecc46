package webui

import (
	"net/http"
	"strings"

	"postroom/appliance/admin"
)

// The "Network address" form of /settings: automatic (DHCP) or a fixed
// address (admin.SetNetwork). The box uses it from its next start, so the
// page that sets it keeps working until then.

// networkFields are the form's fields, as admin.SetNetwork names them.
var networkFields = []string{"mode", "address", "gateway", "dns"}

// networkOp reads the form. DNS servers are typed in one field,
// separated by spaces or commas.
func networkOp(r *http.Request) (admin.Op, []string) {
	f := r.PostForm
	dns := strings.FieldsFunc(f.Get("dns"), func(c rune) bool { return c == ',' || c == ';' || c == ' ' || c == '\t' })
	return admin.SetNetwork{Mode: f.Get("mode"), Address: f.Get("address"), Gateway: f.Get("gateway"), DNS: dns}, networkFields
}
