// Package defaults fills in the documented defaults of Options structs: a zero
// field means "the default", as STYLE.md's constructors promise.
package defaults

// Set sets *v to def when *v is the zero value.
func Set[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}
