// The official Phoenix client against one node: join metric:lobby, print two metrics_data
// payloads, be refused another topic, leave, and exit 0. One JSON line per event on stdout.
import WebSocket from "ws";
import { Socket } from "../../api/static/vendor/phoenix/phoenix.mjs";

const [endPoint] = process.argv.slice(2);
const say = (event, data) => console.log(JSON.stringify({ event, data }));
const fail = (why) => {
  say("failed", why);
  process.exit(1);
};
setTimeout(() => fail("no two metrics_data within 20 s"), 20000);

const socket = new Socket(endPoint, { transport: WebSocket, heartbeatIntervalMs: 500 });
socket.onError((error) => say("socket_error", String(error && error.message)));
socket.connect();

const elsewhere = socket.channel("room:elsewhere", {});
elsewhere
  .join()
  .receive("ok", () => fail("joined a topic the node does not have"))
  .receive("error", (response) => {
    say("refused", response);
    elsewhere.leave(); // phoenix.js would rejoin it with a backoff
  });

const lobby = socket.channel("metric:lobby", {});
let pushes = 0;
lobby.on("metrics_data", (payload) => {
  say("metrics_data", payload);
  pushes += 1;
  if (pushes === 2) {
    lobby.leave().receive("ok", () => {
      say("left", {});
      socket.disconnect(() => process.exit(0));
    });
  }
});
lobby
  .join()
  .receive("ok", (response) => say("joined", response))
  .receive("error", (response) => fail(response));
