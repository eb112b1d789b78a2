"""Everything that is not HTTP, one subpackage per role (docs/architecture.md): `common`
(settings, errors, the wire), `actor` (runs in the actor), `node` (runs in each node, beside
api/), `ops` (the supervisor), `clients` (HTTP clients: the host agent). Never imports api/."""
