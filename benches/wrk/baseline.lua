-- wrk script: the trivial route, /healthz. Its rate is the HTTP ceiling of the server (routing,
-- middleware, connection handling) that every other endpoint is compared with.
wrk.method = "GET"
wrk.path = "/healthz"
