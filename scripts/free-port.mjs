// A TCP port on 127.0.0.1 that is free right now (the OS picks it), for the
// local servers the demo and the benchmark start (workerd, redis-server).
import { createServer } from "node:net";

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close((error) => (error ? reject(error) : resolve(port)));
    });
  });
}
