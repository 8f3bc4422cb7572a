// Local stand-in for a Workers KV namespace under plain `workerd`: the KV
// binding turns get/put/delete into HTTP requests to this service. In-memory,
// for `make demo`, `make serve` and the tests; production uses real KV.
const store = new Map();

export default {
  async fetch(request) {
    const url = new URL(request.url);
    const key = decodeURIComponent(url.pathname.slice(1));
    switch (request.method) {
      case "GET":
        return store.has(key) ? new Response(store.get(key)) : new Response(null, { status: 404 });
      case "PUT":
        store.set(key, await request.text());
        return new Response(null);
      case "DELETE":
        store.delete(key);
        return new Response(null);
      default:
        return new Response("unsupported", { status: 405 });
    }
  },
};
