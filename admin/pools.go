package admin

import (
	"net/http"

	"github.com/latchkeyproxy/latchkey/engine"
	"github.com/latchkeyproxy/latchkey/poolops"
)

// poolService is the pool management the pool routes call, with the
// methods and meaning of *poolops.Ops, the one implementation. The
// interface exists so that a test can make a rotate lose its race, which
// no real request can provoke on demand.
type poolService interface {
	Create(name string, members []string, strategy string) (poolops.Pool, error)
	List() []poolops.Pool
	Status(name string) (poolops.PoolStatus, error)
	Rotate(name string) (poolops.RotateResult, error)
	Remove(name string) error
	Reset(name, member string) (poolops.PoolStatus, error)
	Summary() poolops.Summary
}

// poolHandler serves one method of a pool route with the pool operations
// of the request's engine.
type poolHandler func(w http.ResponseWriter, r *http.Request, pools poolService) error

// newPool is the body of POST /api/pools.
type newPool struct {
	// Name identifies the pool; it shares the namespace of credentials.
	Name string `json:"name"`

	// Members are OAuth credential names in failover order.
	Members []string `json:"members"`

	// Strategy is how members are chosen. Default: "failover", the only
	// one.
	Strategy string `json:"strategy,omitempty"`
}

// poolReset is the optional body of POST /api/pools/{name}/reset.
type poolReset struct {
	// Member names the one member whose cooldown to clear. Empty clears
	// every member's.
	Member string `json:"member,omitempty"`
}

// noBody is the optional body of a route that takes no parameters: only
// an empty object is accepted, so that a misspelt field is not silently
// ignored.
type noBody struct{}

// poolRoute adapts a pool handler to the route table, giving it poolops
// over the request's engine.
func (a *API) poolRoute(h poolHandler) handler {
	return func(w http.ResponseWriter, r *http.Request, eng *engine.Engine) error {
		newPools := a.newPools
		if newPools == nil {
			newPools = func(eng *engine.Engine) poolService { return poolops.New(eng) }
		}
		return h(w, r, newPools(eng))
	}
}

// listPools answers GET /api/pools.
func listPools(w http.ResponseWriter, _ *http.Request, pools poolService) error {
	writeJSON(w, http.StatusOK, pools.List())
	return nil
}

// createPool answers POST /api/pools with the pool as committed.
func createPool(w http.ResponseWriter, r *http.Request, pools poolService) error {
	var req newPool
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	p, err := pools.Create(req.Name, req.Members, req.Strategy)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, p)
	return nil
}

// poolStatus answers GET /api/pools/{name} with the pool's live state.
func poolStatus(w http.ResponseWriter, r *http.Request, pools poolService) error {
	st, err := pools.Status(r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

// removePool answers DELETE /api/pools/{name}. A pool that bindings still
// use is refused with those bindings in the answer.
func removePool(w http.ResponseWriter, r *http.Request, pools poolService) error {
	if err := pools.Remove(r.PathValue("name")); err != nil {
		return err
	}
	writeNoContent(w)
	return nil
}

// rotatePool answers POST /api/pools/{name}/rotate.
func rotatePool(w http.ResponseWriter, r *http.Request, pools poolService) error {
	name := r.PathValue("name")
	if err := engine.ValidateName(name); err != nil {
		return err
	}
	if err := decodeOptionalJSON(w, r, &noBody{}); err != nil {
		return err
	}
	res, err := pools.Rotate(name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// resetPool answers POST /api/pools/{name}/reset with the status after
// the cooldowns were cleared.
func resetPool(w http.ResponseWriter, r *http.Request, pools poolService) error {
	name := r.PathValue("name")
	if err := engine.ValidateName(name); err != nil {
		return err
	}
	var req poolReset
	if err := decodeOptionalJSON(w, r, &req); err != nil {
		return err
	}
	st, err := pools.Reset(name, req.Member)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

// Interface guard.
var _ poolService = (*poolops.Ops)(nil)
