package consent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// One person across channels: the Keyring keeps which channel identities
// (aliases) are linked to which person, in its KeyStore next to the keys,
// so that an erasure deletes the links with the keys. See the package
// comment, "Subjects".

// Person returns the person alias is linked to, or alias itself when it
// is not linked. It is on every chat turn's path: within the cache TTL it
// does not reach the store, for linked and unlinked identities alike, so
// a link made on another replica takes effect here within that time.
// Errors wrap ErrInvalid for an alias that is not a SubjectID and
// ErrUnavailable when the store cannot be reached.
func (k *Keyring) Person(ctx context.Context, alias string) (string, error) {
	return k.person(ctx, alias, true)
}

// person is Person; without cached, it reads the store (and refreshes the
// cache), for data-rights requests, which must not act on a stale link.
func (k *Keyring) person(ctx context.Context, alias string, cached bool) (string, error) {
	if !isSubject(alias) {
		return "", fmt.Errorf("consent: person: alias is not a subject id: %w", ErrInvalid)
	}
	now := k.now()
	k.mu.Lock()
	if person, ok := k.persons.get(alias, now); ok && cached {
		k.mu.Unlock()
		return person, nil
	}
	epoch := k.epoch
	k.mu.Unlock()

	flight := "person:" + alias
	if !cached {
		flight = "person-now:" + alias
	}
	v, err, _ := k.flight.Do(flight, func() (any, error) {
		person := strings.Clone(alias) // the cache keeps it; see unwrap
		id, err := k.store.Identity(ctx, alias)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return "", err
		default:
			person = id.Person
		}
		k.rememberPerson(strings.Clone(alias), person, now.Add(k.ttl), epoch)
		return person, nil
	})
	if err != nil {
		return "", fmt.Errorf("consent: person: %w", err)
	}
	return v.(string), nil
}

// rememberPerson caches that alias belongs to person until expires, unless
// a Destroy ran since the lookup began at epoch.
func (k *Keyring) rememberPerson(alias, person string, expires time.Time, epoch uint64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.epoch == epoch {
		k.persons.put(alias, person, expires)
	}
}

// LinkIdentity links alias, a channel identity's subject on channel
// ("webchat"), to person, making the person's key if needed (so that
// Has and Subjects see the person). The first link of an alias wins: it
// returns the person alias is linked to now (person, or the one it was
// linked to before) and whether this call made the link; of concurrent
// calls for one alias exactly one makes it. The caller records the link
// in the ledger. Errors wrap ErrInvalid for malformed arguments, ErrErased
// when the person's key was destroyed meanwhile, and ErrUnavailable when
// the store cannot be reached.
func (k *Keyring) LinkIdentity(ctx context.Context, alias, person, channel string) (string, bool, error) {
	switch {
	case !isSubject(alias) || !isSubject(person):
		return "", false, fmt.Errorf("consent: link identity: alias or person is not a subject id: %w", ErrInvalid)
	case alias == person:
		return "", false, fmt.Errorf("consent: link identity: an identity cannot be linked to itself: %w", ErrInvalid)
	case !channelRE.MatchString(channel) || channel == customerChannel:
		return "", false, fmt.Errorf("consent: link identity: channel %q: %w", channel, ErrInvalid)
	}
	k.mu.Lock()
	epoch := k.epoch
	k.mu.Unlock()
	now := k.now()
	// Linked already: no key is made for a person who does not get the
	// link.
	if id, err := k.store.Identity(ctx, alias); err == nil {
		k.rememberPerson(strings.Clone(alias), strings.Clone(id.Person), now.Add(k.ttl), epoch)
		return id.Person, false, nil
	} else if !errors.Is(err, ErrNotFound) {
		return "", false, fmt.Errorf("consent: link identity: %w", err)
	}
	if _, err := k.entry(ctx, person, true); err != nil {
		return "", false, fmt.Errorf("consent: link identity: %w", err)
	}
	id := Identity{Alias: alias, Person: person, Channel: channel, Created: now.UTC().Truncate(time.Microsecond)}
	stored, made, err := k.store.PutIdentity(ctx, id)
	if errors.Is(err, ErrNotFound) { // the person was erased meanwhile
		k.drop(person)
		return "", false, fmt.Errorf("consent: link identity: %w", ErrErased)
	}
	if err != nil {
		return "", false, fmt.Errorf("consent: link identity: %w", err)
	}
	k.rememberPerson(strings.Clone(alias), strings.Clone(stored.Person), now.Add(k.ttl), epoch)
	return stored.Person, made, nil
}

// unlinkIdentity undoes a link LinkIdentity made whose ledger record
// failed, so that the link can be made (and recorded) again.
func (k *Keyring) unlinkIdentity(ctx context.Context, alias, person string) error {
	_, err := k.store.DeleteIdentity(ctx, alias, person)
	k.drop(alias)
	if err != nil {
		return fmt.Errorf("consent: unlink identity: %w", err)
	}
	return nil
}

// Identities returns the identities linked to person, oldest first.
func (k *Keyring) Identities(ctx context.Context, person string) ([]Identity, error) {
	if !isSubject(person) {
		return nil, fmt.Errorf("consent: identities: person is not a subject id: %w", ErrInvalid)
	}
	ids, err := k.store.Identities(ctx, person)
	if err != nil {
		return nil, fmt.Errorf("consent: identities: %w", err)
	}
	return ids, nil
}
