"""`make bench`: folio's cost measured against bare apps and its peers, in one run."""
