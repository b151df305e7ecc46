package status

// Memory is the machine's memory as the kernel counts it (Linux /proc),
// in bytes; zero fields are not known (other systems, or the init's when
// the init did not start the appliance). Written by
// appliance/run_panel_memory.go with the other readings.
type Memory struct {
	// RSS is the appliance's resident memory (VmRSS), RSSAnon the part
	// that is its own heap and stacks rather than mapped files (RssAnon).
	RSS     uint64 `json:"rss,omitempty"`
	RSSAnon uint64 `json:"rss_anon,omitempty"`
	// InitRSS is the box's init (PID 1)'s VmRSS, read only when the init
	// started the appliance (on the board or its image under qemu).
	InitRSS uint64 `json:"init_rss,omitempty"`
	// Total and Available are the machine's MemTotal and MemAvailable.
	Total     uint64 `json:"total,omitempty"`
	Available uint64 `json:"available,omitempty"`
}
