package admin

import (
	"net/http"
)

// getStatus answers GET /api/status with the summary every channel's status
// command shows: version, uptime, pools with their active member and
// health, and event counts since start.
func getStatus(w http.ResponseWriter, _ *http.Request, pools poolService) error {
	writeJSON(w, http.StatusOK, pools.Summary())
	return nil
}
