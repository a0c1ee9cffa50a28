"""The playground: watch gradient descent train a network, live, in the browser.

``gdlab playground`` serves a page and a JSON API (:mod:`gdlab.playground.server`, Starlette
and uvicorn from the ``gdlab[playground]`` extra) over runs that train in threads of their own
(:mod:`gdlab.playground.runs`). A run is plain gdlab code
(:mod:`gdlab.playground.experiment`): generated data (:mod:`gdlab.data.toy`), an MLP, an
optimizer and the :class:`gdlab.Trainer`, built from a configuration that is a plain JSON
object (:mod:`gdlab.playground.config`), so the history the page shows is reproducible from its
configuration in one thread, without the server. Importing this package, its configuration,
data and experiment needs no web stack.
"""
