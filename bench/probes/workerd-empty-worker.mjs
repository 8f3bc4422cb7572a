// Baseline worker of bench/bench.mjs's workerd cold start: answers 200 and nothing else.
export default {
  fetch() {
    return new Response("ok");
  },
};
