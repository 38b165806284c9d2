package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/latchkeyproxy/latchkey/failover"
	"github.com/latchkeyproxy/latchkey/oauth"
	"github.com/latchkeyproxy/latchkey/store"
)

// refreshTimeout bounds one upstream token exchange. It does not follow the
// agent's request: agents waiting on a coalesced refresh must not lose it
// because the first one hung up.
const refreshTimeout = 30 * time.Second

// ErrNotRefreshable marks a refresh latchkey cannot perform: the credential
// has no refresh token, or no refresh request was ever seen to learn its
// client_id from.
var ErrNotRefreshable = errors.New("not refreshable")

// TokenExchange sends one token request upstream and returns its answer with
// the body decoded. The proxy supplies it, so the engine never does HTTP.
type TokenExchange func(ctx context.Context, tokenURL, contentType string,
	body []byte) (*TokenAnswer, error)

// TokenAnswer is the upstream's answer to a token request.
type TokenAnswer struct {
	// Status is the HTTP status of the answer.
	Status int

	// Header is the answer's header.
	Header http.Header

	// Body is the answer's body, decoded from any Content-Encoding.
	Body []byte
}

// RefreshRequest is an agent's refresh grant, found by the probe at a token
// host, carrying the refresh phantom of an identity.
type RefreshRequest struct {
	// Identity is the credential or pool whose refresh phantom was sent.
	Identity string

	// ContentType is the Content-Type of the agent's request.
	ContentType string

	// Body is the agent's request body as sent, with phantoms.
	Body []byte

	// Grant is what the probe parsed from Body.
	Grant oauth.Grant

	// Host is the token host, for logs and events.
	Host string
}

// RefreshResult is the answer for the agent: phantoms only.
type RefreshResult struct {
	// Status is the status to answer with.
	Status int

	// Header is the header to answer with; it has no Content-Length or
	// Content-Encoding, since Body is never encoded.
	Header http.Header

	// Body is the answer's body, with phantoms only.
	Body []byte

	// Member is the credential that was refreshed.
	Member string

	// Refreshed is true when new tokens were stored.
	Refreshed bool
}

// RefreshIdentity returns the identity whose refresh phantom is token.
func (e *Engine) RefreshIdentity(token string) (string, bool) {
	id, ok := e.current.Load().byPhantom[token]
	if !ok || id.refresh != token {
		return "", false
	}
	return id.name, true
}

// Refresh performs an agent's refresh grant for the identity's serving
// credential, coalescing concurrent refreshes of that credential into one
// exchange. The real tokens of a successful answer are written durably
// before the phantomised answer is returned. For a pool, a member whose
// refresh is rejected (invalid_grant) cools down and the next member is
// refreshed instead, so the agent keeps its phantoms either way.
func (e *Engine) Refresh(ctx context.Context, req RefreshRequest,
	exchange TokenExchange) (*RefreshResult, error) {
	s := e.current.Load()
	id, ok := s.identities[req.Identity]
	if !ok {
		return nil, fmt.Errorf("%w: no credential or pool called %s", ErrNotFound,
			quoteName(req.Identity))
	}
	attempts := 1
	if id.kind == KindPool {
		attempts = len(s.records.pools[id.name].Members)
	}

	var res *RefreshResult
	var err error
	for range attempts {
		member, ok := e.current.Load().member(id)
		if !ok {
			return nil, fmt.Errorf("identity %q has no serving credential", id.name)
		}
		res, err = e.refreshMember(ctx, id, member.Name, req, exchange, true)
		if err != nil || res.Refreshed || id.kind != KindPool {
			return res, err
		}
		// The exchange recorded a rejection and moved the pool if it
		// should; follow it to the next member, or give up.
		next, ok := e.current.Load().member(id)
		if !ok || next.Name == member.Name || cooling(e.current.Load().records, next.Name, e.now()) {
			return res, nil
		}
	}
	return res, err
}

// refreshMember refreshes one credential, coalesced. An agent's refresh
// (useRecent) is also answered by a refresh that just finished; latchkey's
// own refresh of an expired token is not, since that token may be the one
// the recent refresh left behind. The upstream exchange is shared per
// credential, but each caller's answer is built for its own identity: a
// credential can serve as itself and as a pool member.
func (e *Engine) refreshMember(ctx context.Context, id *identity, member string,
	req RefreshRequest, exchange TokenExchange, useRecent bool) (*RefreshResult, error) {
	mr, shared, err := e.refreshes.do(member, e.now(), useRecent, func() (*memberRefresh, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
		defer cancel()
		return e.exchangeTokens(ctx, id, member, req, exchange)
	})
	if shared {
		e.Count(MetricRefreshes, id.name, "coalesced")
		if c := e.log().Check(zap.DebugLevel, "refresh coalesced"); c != nil {
			c.Write(zap.String("credential", member))
		}
	} else {
		e.Count(MetricRefreshes, id.name, "upstream")
	}
	var res *RefreshResult
	if err == nil {
		res, err = e.answerFor(id, member, mr)
	}
	if errors.Is(err, ErrUnparseable) || errors.Is(err, ErrNotDurable) {
		e.Count(MetricFailClosed, id.name, "")
	}
	return res, err
}

// memberRefresh is the outcome of one upstream exchange for a credential,
// before it is turned into any identity's answer.
type memberRefresh struct {
	answer *TokenAnswer

	// before are the credential's tokens the exchange used; after are the
	// tokens it stored, nil when the upstream did not issue new ones.
	before store.OAuthTokens
	after  *store.OAuthTokens

	// rotated tells whether the upstream issued a new refresh token, and
	// newIDToken whether the answer carries an id token.
	rotated, newIDToken bool
}

// exchangeTokens does the one upstream exchange for a member and stores its
// result.
func (e *Engine) exchangeTokens(ctx context.Context, id *identity, member string,
	req RefreshRequest, exchange TokenExchange) (*memberRefresh, error) {
	cred, ok := e.current.Load().records.creds[member]
	if !ok || cred.OAuth == nil {
		return nil, fmt.Errorf("credential %q is not an oauth credential", member)
	}
	if cred.OAuth.RefreshToken == "" {
		return nil, fmt.Errorf("%w: credential %q has no refresh token", ErrNotRefreshable, member)
	}
	body, err := oauth.ReplaceRefreshToken(req.Grant, req.Body, cred.OAuth.RefreshToken)
	if err != nil {
		return nil, fmt.Errorf("preparing refresh of %q: %v", member, err)
	}

	ans, err := exchange(ctx, cred.OAuth.TokenURL, req.ContentType, body)
	if err != nil {
		return nil, fmt.Errorf("refreshing %q: %v", member, err)
	}
	mr := &memberRefresh{answer: ans, before: *cred.OAuth}
	if ans.Status < 200 || ans.Status > 299 {
		e.log().Info("refresh rejected", zap.String("credential", member),
			zap.Int("status", ans.Status))
		e.recordRejection(id, member, req.Host, ans)
		return mr, nil
	}

	tokens, err := oauth.ParseTokenResponse(ans.Header.Get("Content-Type"), ans.Body)
	if err != nil {
		return nil, fmt.Errorf("%w: token response for %q: %v", ErrUnparseable, member, err)
	}
	updated := *cred.OAuth
	updated.AccessToken = tokens.AccessToken
	setIf(&updated.RefreshToken, tokens.RefreshToken)
	setIf(&updated.IDToken, tokens.IDToken)
	if tokens.HasExpiresIn {
		updated.ExpiresAt = e.now().Add(tokens.ExpiresIn).UTC()
	}
	updated.RefreshTemplate = string(req.Body)
	updated.RefreshContentType = req.ContentType

	// Store first: the upstream has already spent the old refresh token,
	// so the new one must be kept even if the answer cannot be rewritten.
	if err := e.storeTokens(member, updated); err != nil {
		return nil, err
	}
	mr.after, mr.rotated, mr.newIDToken = &updated, tokens.RefreshToken != "", tokens.IDToken != ""
	e.log().Info("refreshed", zap.String("credential", member), zap.String("identity", id.name),
		zap.Bool("rotated_refresh_token", mr.rotated))
	return mr, nil
}

// answerFor turns a member's exchange into the answer for one identity:
// the upstream's answer with the member's real tokens and account id
// replaced by that identity's phantoms.
func (e *Engine) answerFor(id *identity, member string, mr *memberRefresh) (*RefreshResult, error) {
	ans := mr.answer
	scrub := e.tokenScrubber(id, mr.before, mr.after)
	res := &RefreshResult{Status: ans.Status, Header: scrubHeader(ans.Header, scrub),
		Member: member}
	if mr.after == nil {
		// An error answer may echo the real refresh token.
		res.Body = []byte(scrub.Replace(string(ans.Body)))
		return res, nil
	}

	subst := oauth.Tokens{AccessToken: id.access, RefreshToken: id.refresh}
	if mr.newIDToken {
		tok, err := e.phantomIDToken(id, store.Credential{Name: member, OAuth: mr.after})
		if err != nil {
			return nil, fmt.Errorf("%w: id token for %q: %v", ErrUnparseable, member, err)
		}
		subst.IDToken = tok
	}
	body, err := oauth.RewriteTokenResponse(ans.Header.Get("Content-Type"), ans.Body, subst)
	if err != nil {
		return nil, fmt.Errorf("%w: token response for %q: %v", ErrUnparseable, member, err)
	}
	// Token answers may carry the account too (Claude's account.uuid).
	if a := mr.after.AccountID; a != "" {
		body = bytes.ReplaceAll(body, []byte(a), []byte(id.account))
	}
	res.Body, res.Refreshed = body, true
	e.Count(MetricTokenRewrites, id.name, "")
	return res, nil
}

// recordRejection cools a pool member down when the token host rejected its
// refresh (invalid_grant). It runs inside the coalesced exchange, so agents
// that arrive after it find the pool already moved rather than sending the
// spent token again.
func (e *Engine) recordRejection(id *identity, member, host string, ans *TokenAnswer) {
	if id.kind != KindPool {
		return
	}
	v := failover.Classify(failover.Response{Status: ans.Status, Header: ans.Header,
		Body: ans.Body, AtTokenURL: true}, e.now(), e.MaxCooldown())
	if v.Kind == failover.None {
		return
	}
	if _, err := e.ReportFailure(id.name, member, v, host); err != nil {
		e.log().Error("recording a rejected refresh", zap.String("credential", member),
			zap.Error(err))
	}
}

// ErrUnparseable marks a token response latchkey could not read. The proxy
// answers 502 and never forwards such a body: it may hold real tokens.
var ErrUnparseable = errors.New("unparseable token response")

// ErrNotDurable marks rotated tokens that could not be written. They are
// kept in memory and written later; the agent gets a 502 meanwhile.
var ErrNotDurable = errors.New("rotated tokens not yet written")

// storeTokens writes a member's new tokens. If the write fails they still
// become live (the upstream has already spent the old refresh token) and
// are retried in the background until written.
func (e *Engine) storeTokens(member string, tokens store.OAuthTokens) error {
	err := e.update(func(tx *store.Txn, r *records) error {
		return putTokens(tx, r, member, tokens, e.now())
	})
	if err == nil {
		return nil
	}
	e.log().Error("writing rotated tokens failed; keeping them in memory and retrying",
		zap.String("credential", member), zap.Error(err))
	e.keepUnsaved(member, tokens)
	return fmt.Errorf("%w for %q: %v", ErrNotDurable, member, err)
}

// putTokens replaces a member's tokens in the records and the transaction.
func putTokens(tx *store.Txn, r *records, member string, t store.OAuthTokens, now time.Time) error {
	c, ok := r.creds[member]
	if !ok {
		return fmt.Errorf("credential %q was removed during its refresh", member)
	}
	c.OAuth = &t
	c.UpdatedAt = now.UTC()
	r.creds[member] = c
	return tx.PutCredential(c)
}

// tokenScrubber replaces a credential's real tokens (those an exchange used
// and, if any, those it stored) with the identity's phantoms, for answers
// that echo them.
func (e *Engine) tokenScrubber(id *identity, before store.OAuthTokens,
	after *store.OAuthTokens) *strings.Replacer {
	sets := []store.OAuthTokens{before}
	if after != nil {
		sets = append(sets, *after)
	}
	var pairs []string
	for _, t := range sets {
		for _, p := range [][2]string{{t.AccessToken, id.access}, {t.RefreshToken, id.refresh},
			{t.IDToken, ""}, {t.AccountID, id.account}} {
			if p[0] != "" {
				pairs = append(pairs, p[0], p[1])
			}
		}
	}
	return strings.NewReplacer(pairs...)
}

// scrubHeader copies a header with the replacer applied to every value,
// leaving out the framing headers that no longer describe the body.
func scrubHeader(h http.Header, r *strings.Replacer) http.Header {
	out := make(http.Header, len(h))
	for k, vs := range h {
		switch k {
		case "Content-Length", "Content-Encoding", "Transfer-Encoding":
			continue
		}
		for _, v := range vs {
			out.Add(k, r.Replace(v))
		}
	}
	return out
}

// phantomIDToken builds the agent's id token for a credential's real one.
func (e *Engine) phantomIDToken(id *identity, c store.Credential) (string, error) {
	replace := map[string]string{}
	if c.OAuth.AccountID != "" {
		replace[c.OAuth.AccountID] = id.account
	}
	return e.codec.IDToken(c.OAuth.IDToken, replace)
}

// RefreshExpired refreshes a credential on latchkey's own initiative, when
// its access token has expired and the upstream answered 401. It replays the
// last refresh request an agent sent for it (which carries the client's
// client_id and format) with the real refresh token.
func (e *Engine) RefreshExpired(ctx context.Context, identityName, member, host string,
	exchange TokenExchange) error {
	s := e.current.Load()
	id, ok := s.identities[identityName]
	cred, cok := s.records.creds[member]
	if !ok || !cok || cred.OAuth == nil {
		return fmt.Errorf("%w: %q is not an oauth credential", ErrNotRefreshable, member)
	}
	tmpl := cred.OAuth.RefreshTemplate
	g, ok := oauth.ParseGrant(cred.OAuth.RefreshContentType, []byte(tmpl))
	if tmpl == "" || !ok {
		return fmt.Errorf("%w: no refresh request from an agent was seen for %q yet",
			ErrNotRefreshable, member)
	}
	res, err := e.refreshMember(ctx, id, member, RefreshRequest{Identity: identityName,
		ContentType: cred.OAuth.RefreshContentType, Body: []byte(tmpl), Grant: g, Host: host},
		exchange, false)
	if err != nil {
		return err
	}
	if !res.Refreshed {
		return fmt.Errorf("refresh of %q was answered %d", member, res.Status)
	}
	return nil
}
