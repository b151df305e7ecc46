package webui

import "postroom/appliance/status"

// memoryWords says what memory Postroom (the appliance and, on the box,
// its init) uses and how much of the machine's is free, e.g. "Postroom
// uses 42 MB; 380 MB of 512 MB free."; "" when nothing is known (not
// Linux). bad is under a tenth of the memory free: the box may soon
// have to stop a service.
func memoryWords(m status.Memory) (words string, bad bool) {
	var parts []string
	if used := m.RSS + m.InitRSS; used > 0 {
		parts = append(parts, "Postroom uses "+bytesWords(used))
	}
	if m.Total > 0 && m.Available > 0 && m.Available <= m.Total {
		parts = append(parts, bytesWords(m.Available)+" of "+bytesWords(m.Total)+" free")
		bad = m.Available < m.Total/10
	}
	if len(parts) == 0 {
		return "", false
	}
	words = parts[0]
	if len(parts) > 1 {
		words += "; " + parts[1]
	}
	return words + ".", bad
}
