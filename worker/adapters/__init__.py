"""All I/O lives here: the HTTP fetcher, the state stores and the sinks."""
