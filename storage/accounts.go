package storage

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"golang.org/x/crypto/argon2"

	"postroom/storage/internal/keys"
)

// argon2id parameters for new hashes: 12 MiB, 3 passes, 1 lane, one of the
// settings OWASP lists as equal in strength to its 19 MiB x 2 minimum (used
// before; such hashes still verify: verifyPassword reads the parameters
// from the hash). Chosen by measurement (docs/BENCHMARKS.md, "Login cost"):
// on arm64 under qemu and here it costs about a third less time than
// 19 MiB x 2, and a third less memory, which counts on a 1 GB Pi 3 where
// Store.authSem lets two checks run at once. The credential cache
// (credcache.go) makes it one check per device per TTL, not per login.
const (
	argonTime    = 3
	argonMemory  = 12 * 1024
	argonThreads = 1
	argonKeyLen  = 32
	minPassword  = 8
)

func hashPassword(pw string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	sum := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, enc.EncodeToString(salt), enc.EncodeToString(sum)), nil
}

// verifyPassword checks pw against a PHC-format argon2id hash, using the
// parameters stored in the hash so that they can be raised later.
func verifyPassword(hash, pw string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || t == 0 || p == 0 {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[4])
	want, err2 := enc.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// dummyHash is verified against when the login is unknown, so that the
// answer takes as long as for a known login with a wrong password.
var dummyHash = sync.OnceValue(func() string {
	h, _ := hashPassword("postroom-dummy-password")
	return h
})

// NormalizeAddress lower-cases an address and checks its shape: local@domain,
// or @domain for a catch-all. A trailing dot on the domain is dropped.
func NormalizeAddress(addr string) (string, error) {
	a := strings.ToLower(strings.TrimSpace(addr))
	at := strings.LastIndexByte(a, '@')
	if at < 0 || at == len(a)-1 || strings.ContainsAny(a, " \t\r\n<>,;\"\\") || strings.Count(a, "@") != 1 {
		return "", fmt.Errorf("%w: %q", ErrUnknownAddress, addr)
	}
	local, domain := a[:at], strings.TrimSuffix(a[at+1:], ".")
	if domain == "" || strings.HasPrefix(domain, ".") || strings.Contains(domain, "..") || len(a) > 254 {
		return "", fmt.Errorf("%w: %q", ErrUnknownAddress, addr)
	}
	return local + "@" + domain, nil
}

func domainOf(addr string) string { return addr[strings.LastIndexByte(addr, '@')+1:] }

func (s *Store) getAccount(txn *badger.Txn, id AccountID) (*accountRecord, error) {
	it, err := txn.Get(keys.Account(uint64(id)))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, fmt.Errorf("account %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	rec := &accountRecord{}
	err = it.Value(func(v []byte) error { return decodeJSON(vAccount, v, rec) })
	if err != nil {
		return nil, fmt.Errorf("account %d: %w", id, err)
	}
	return rec, nil
}

// putAccount writes the account record and, in the same transaction, the
// UID index changes its counts were made with (uidindex.go).
func putAccount(txn *badger.Txn, id AccountID, rec *accountRecord) error {
	if err := flushUIDIndex(txn, id, rec); err != nil {
		return err
	}
	b, err := encodeJSON(vAccount, rec)
	if err != nil {
		return err
	}
	return txn.Set(keys.Account(uint64(id)), b)
}

func getAddress(txn *badger.Txn, addr string) (AccountID, error) {
	it, err := txn.Get(keys.Address(addr))
	if err != nil {
		return 0, err
	}
	var id AccountID
	err = it.Value(func(v []byte) error {
		if len(v) != 8 {
			return errCorrupt
		}
		id = AccountID(binary.BigEndian.Uint64(v))
		return nil
	})
	return id, err
}

func addAddress(txn *badger.Txn, addr string, id AccountID) error {
	if _, err := getAddress(txn, addr); err == nil {
		return fmt.Errorf("%w: %s", ErrAddressTaken, addr)
	} else if !errors.Is(err, badger.ErrKeyNotFound) {
		return err
	}
	if err := txn.Set(keys.Address(addr), binary.BigEndian.AppendUint64(nil, uint64(id))); err != nil {
		return err
	}
	return bumpDomain(txn, domainOf(addr), +1)
}

func removeAddress(txn *badger.Txn, addr string) error {
	if err := txn.Delete(keys.Address(addr)); err != nil {
		return err
	}
	return bumpDomain(txn, domainOf(addr), -1)
}

// bumpDomain keeps the number of addresses per domain; a domain is local
// while it has at least one.
func bumpDomain(txn *badger.Txn, domain string, delta int64) error {
	k := keys.Domain(domain)
	var n int64
	it, err := txn.Get(k)
	switch {
	case err == nil:
		err = it.Value(func(v []byte) error {
			if len(v) != 8 {
				return errCorrupt
			}
			n = int64(binary.BigEndian.Uint64(v))
			return nil
		})
		if err != nil {
			return err
		}
	case !errors.Is(err, badger.ErrKeyNotFound):
		return err
	}
	n += delta
	if n <= 0 {
		return txn.Delete(k)
	}
	return txn.Set(k, binary.BigEndian.AppendUint64(nil, uint64(n)))
}

// CreateAccount creates an account whose login and primary address is name,
// with the default mailboxes (INBOX, Sent, Drafts, Trash, Junk, Archive).
func (s *Store) CreateAccount(name, password string) (Account, error) {
	addr, err := NormalizeAddress(name)
	if err != nil || strings.HasPrefix(addr, "@") {
		return Account{}, fmt.Errorf("storage: account name must be an address like user@example.com: %q", name)
	}
	if len(password) < minPassword {
		return Account{}, ErrInvalidPassword
	}
	hash, err := s.hash(password)
	if err != nil {
		return Account{}, err
	}
	n, err := next(s.seqAcct)
	if err != nil {
		return Account{}, err
	}
	id := AccountID(n)
	rec := &accountRecord{
		Name: addr, PasswordHash: hash, Addresses: []string{addr},
		Created: time.Now().UTC(), LastModSeq: 1,
		// Start UIDVALIDITY from the clock so that an account deleted and
		// created again never reuses a value a client has cached.
		NextUIDValidity: uint32(time.Now().Unix()),
	}
	err = s.update(func(txn *badger.Txn) error {
		if _, err := getAddress(txn, addr); err == nil {
			return fmt.Errorf("%w: %s", ErrAccountExists, addr)
		}
		if err := addAddress(txn, addr, id); err != nil {
			return err
		}
		for _, d := range DefaultMailboxes {
			if _, err := s.createMailboxTxn(txn, id, rec, d.Name, d.SpecialUse, true); err != nil {
				return err
			}
		}
		return putAccount(txn, id, rec)
	})
	if err != nil {
		return Account{}, fmt.Errorf("storage: create account %s: %w", addr, err)
	}
	s.log.Info("account created", "account", addr)
	return rec.public(id), nil
}

func (s *Store) hash(pw string) (string, error) {
	s.authSem <- struct{}{}
	defer func() { <-s.authSem }()
	return hashPassword(pw)
}

// lookupAccount resolves an account name (its primary address) to its ID.
func (s *Store) lookupAccount(txn *badger.Txn, name string) (AccountID, *accountRecord, error) {
	addr, err := NormalizeAddress(name)
	if err != nil {
		return 0, nil, fmt.Errorf("account %q: %w", name, ErrNotFound)
	}
	id, err := getAddress(txn, addr)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil, fmt.Errorf("account %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return 0, nil, err
	}
	rec, err := s.getAccount(txn, id)
	if err != nil {
		return 0, nil, err
	}
	if rec.Name != addr {
		return 0, nil, fmt.Errorf("account %q: %w (it is an alias of %s)", name, ErrNotFound, rec.Name)
	}
	return id, rec, nil
}

// Account returns the account whose login is name.
func (s *Store) Account(name string) (Account, error) {
	var out Account
	err := s.view(func(txn *badger.Txn) error {
		id, rec, err := s.lookupAccount(txn, name)
		if err == nil {
			out = rec.public(id)
		}
		return err
	})
	return out, err
}

// AccountByID returns the account with this ID.
func (s *Store) AccountByID(id AccountID) (Account, error) {
	var out Account
	err := s.view(func(txn *badger.Txn) error {
		rec, err := s.getAccount(txn, id)
		if err == nil {
			out = rec.public(id)
		}
		return err
	})
	return out, err
}

// Accounts lists every account in ID order.
func (s *Store) Accounts() ([]Account, error) {
	var out []Account
	err := s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, Prefix: keys.AccountPrefix()})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			id, err := keys.ParseAccount(it.Item().Key())
			if err != nil {
				return err
			}
			rec := &accountRecord{}
			if err := it.Item().Value(func(v []byte) error { return decodeJSON(vAccount, v, rec) }); err != nil {
				return fmt.Errorf("account %d: %w", id, err)
			}
			out = append(out, rec.public(AccountID(id)))
		}
		return nil
	})
	return out, err
}

// modifyAccount changes an account record under the account's writer lock.
func (s *Store) modifyAccount(name string, fn func(txn *badger.Txn, id AccountID, rec *accountRecord) error) error {
	var id AccountID
	if err := s.view(func(txn *badger.Txn) error {
		var err error
		id, _, err = s.lookupAccount(txn, name)
		return err
	}); err != nil {
		return err
	}
	mu := s.accountLock(id)
	mu.Lock()
	defer mu.Unlock()
	return s.update(func(txn *badger.Txn) error {
		rec, err := s.getAccount(txn, id)
		if err != nil {
			return err
		}
		if err := fn(txn, id, rec); err != nil {
			return err
		}
		return putAccount(txn, id, rec)
	})
}

// SetPassword replaces the account's password hash.
func (s *Store) SetPassword(name, password string) error {
	if len(password) < minPassword {
		return ErrInvalidPassword
	}
	hash, err := s.hash(password)
	if err != nil {
		return err
	}
	var acct AccountID
	err = s.modifyAccount(name, func(_ *badger.Txn, id AccountID, rec *accountRecord) error {
		rec.PasswordHash, acct = hash, id
		return nil
	})
	if err == nil {
		s.creds.forget(acct)
	}
	return err
}

// SetQuota sets the account's quota in bytes; 0 means unlimited.
func (s *Store) SetQuota(name string, bytes int64) error {
	if bytes < 0 {
		return fmt.Errorf("storage: quota must not be negative")
	}
	var id AccountID
	if err := s.modifyAccount(name, func(_ *badger.Txn, aid AccountID, rec *accountRecord) error {
		rec.Quota, id = bytes, aid
		return nil
	}); err != nil {
		return err
	}
	s.setQuotaCache(id, bytes)
	return nil
}

// loadQuotas fills the quota cache at open.
func (s *Store) loadQuotas() error {
	accts, err := s.Accounts()
	if err != nil {
		return fmt.Errorf("storage: read quotas: %w", err)
	}
	for _, a := range accts {
		s.setQuotaCache(a.ID, a.Quota)
	}
	return nil
}

// setQuotaCache records an account's quota; 0 (none) drops it.
func (s *Store) setQuotaCache(id AccountID, bytes int64) {
	s.quotaMu.Lock()
	defer s.quotaMu.Unlock()
	if bytes > 0 {
		s.quotas[id] = bytes
	} else {
		delete(s.quotas, id)
	}
}

// SetAdmin gives the account the administrator's rights (Account.Admin), or
// takes them away.
func (s *Store) SetAdmin(name string, admin bool) error {
	return s.modifyAccount(name, func(_ *badger.Txn, _ AccountID, rec *accountRecord) error {
		rec.Admin = admin
		return nil
	})
}

// SetPOPRetention sets after how many days a message downloaded over POP3 is
// deleted from INBOX; 0 keeps messages forever.
func (s *Store) SetPOPRetention(name string, days int) error {
	if days < 0 || days > 36500 {
		return fmt.Errorf("storage: retention must be 0..36500 days")
	}
	return s.modifyAccount(name, func(_ *badger.Txn, _ AccountID, rec *accountRecord) error {
		rec.POPRetentionDays = days
		return nil
	})
}

// AddAddress delivers mail for addr (an alias, or "@domain" as a catch-all)
// to the account name.
func (s *Store) AddAddress(name, addr string) error {
	a, err := NormalizeAddress(addr)
	if err != nil {
		return err
	}
	return s.modifyAccount(name, func(txn *badger.Txn, id AccountID, rec *accountRecord) error {
		if err := addAddress(txn, a, id); err != nil {
			return err
		}
		rec.Addresses = append(rec.Addresses, a)
		return nil
	})
}

// RemoveAddress stops delivering mail for an alias. An account's own name
// cannot be removed (delete the account instead).
func (s *Store) RemoveAddress(addr string) error {
	a, err := NormalizeAddress(addr)
	if err != nil {
		return err
	}
	var owner string
	err = s.view(func(txn *badger.Txn) error {
		id, err := getAddress(txn, a)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("address %s: %w", a, ErrNotFound)
		}
		if err != nil {
			return err
		}
		rec, err := s.getAccount(txn, id)
		if err != nil {
			return err
		}
		owner = rec.Name
		return nil
	})
	if err != nil {
		return err
	}
	if owner == a {
		return fmt.Errorf("storage: %s is the account's own name; delete the account instead", a)
	}
	return s.modifyAccount(owner, func(txn *badger.Txn, _ AccountID, rec *accountRecord) error {
		if err := removeAddress(txn, a); err != nil {
			return err
		}
		out := rec.Addresses[:0]
		for _, x := range rec.Addresses {
			if x != a {
				out = append(out, x)
			}
		}
		rec.Addresses = out
		return nil
	})
}

// Resolve finds the account that receives mail for addr: the exact address,
// then without a "+tag" in the local part, then for a role mailbox
// (postmaster, abuse) the box's administrator, then the domain's catch-all.
// The bare "postmaster" of RFC 5321 4.1.1.3 (no domain) is a role mailbox
// too.
func (s *Store) Resolve(addr string) (AccountID, error) {
	if strings.EqualFold(strings.TrimSpace(addr), rolePostmaster) {
		var id AccountID
		err := s.view(func(txn *badger.Txn) (err error) {
			id, err = roleAccount(txn)
			return err
		})
		return id, err
	}
	a, err := NormalizeAddress(addr)
	if err != nil || strings.HasPrefix(a, "@") {
		return 0, ErrUnknownAddress
	}
	at := strings.LastIndexByte(a, '@')
	local, domain := a[:at], a[at+1:]
	cands := []string{a}
	if plus := strings.IndexByte(local, '+'); plus > 0 {
		local = local[:plus]
		cands = append(cands, local+a[at:])
	}
	var id AccountID
	err = s.view(func(txn *badger.Txn) error {
		for _, c := range cands {
			got, err := getAddress(txn, c)
			if err == nil {
				id = got
				return nil
			}
			if !errors.Is(err, badger.ErrKeyNotFound) {
				return err
			}
		}
		if slices.Contains(roleMailboxes, local) {
			// Only in our own domains: postmaster@gmail.com is not ours.
			_, err := txn.Get(keys.Domain(domain))
			if err == nil {
				id, err = roleAccount(txn)
				return err
			}
			if !errors.Is(err, badger.ErrKeyNotFound) {
				return err
			}
		}
		got, err := getAddress(txn, a[at:])
		if errors.Is(err, badger.ErrKeyNotFound) {
			return ErrUnknownAddress
		}
		id = got
		return err
	})
	return id, err
}

// Role mailboxes every domain of the box has, whether or not an account or
// alias was made for them: postmaster, which RFC 5321 4.5.1 requires
// (case-insensitive, and also without a domain) and to which DMARC reports
// go (postroomctl dns publishes rua=mailto:postmaster@), and abuse (RFC
// 2142 2), where other providers send complaints. An alias of that name
// (postroomctl alias add) sends them elsewhere: the exact address is looked
// up first. They win over a catch-all: whoever gets "any other address" is
// not necessarily the person who runs the box.
const rolePostmaster = "postmaster"

var roleMailboxes = []string{rolePostmaster, "abuse"}

// roleAccount is the account that receives the role mailboxes: the first
// administrator (the lowest account ID), or, when no account is an
// administrator, the first account. Refusing instead would break RFC 5321's
// MUST and lose the DMARC reports of a box whose accounts predate the
// administrator flag; the first account is normally the person who set the
// box up. ErrUnknownAddress only when there is no account at all.
func roleAccount(txn *badger.Txn) (AccountID, error) {
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, Prefix: keys.AccountPrefix()})
	defer it.Close()
	first := AccountID(0)
	for it.Rewind(); it.Valid(); it.Next() {
		id, err := keys.ParseAccount(it.Item().Key())
		if err != nil {
			return 0, err
		}
		rec := &accountRecord{}
		if err := it.Item().Value(func(v []byte) error { return decodeJSON(vAccount, v, rec) }); err != nil {
			return 0, fmt.Errorf("account %d: %w", id, err)
		}
		if rec.Admin {
			return AccountID(id), nil
		}
		if first == 0 {
			first = AccountID(id)
		}
	}
	if first == 0 {
		return 0, ErrUnknownAddress
	}
	return first, nil
}

// IsLocalDomain reports whether any address of the store is in domain.
func (s *Store) IsLocalDomain(domain string) bool {
	d := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(domain)), ".")
	if d == "" {
		return false
	}
	err := s.view(func(txn *badger.Txn) error {
		_, err := txn.Get(keys.Domain(d))
		return err
	})
	return err == nil
}

// Domains lists the local domains.
func (s *Store) Domains() ([]string, error) {
	var out []string
	err := s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: keys.DomainPrefix()})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			d, err := keys.ParseDomain(it.Item().Key())
			if err != nil {
				return err
			}
			out = append(out, d)
		}
		return nil
	})
	return out, err
}

// CheckQuota fails with ErrOverQuota when size more bytes would exceed the
// account's quota.
func (s *Store) CheckQuota(acct AccountID, size int64) error {
	s.quotaMu.RLock()
	_, limited := s.quotas[acct]
	s.quotaMu.RUnlock()
	if !limited {
		return nil // no quota: nothing to read
	}
	a, err := s.AccountByID(acct)
	if err != nil {
		return err
	}
	if a.Quota > 0 && a.Usage+size > a.Quota {
		return ErrOverQuota
	}
	return nil
}
