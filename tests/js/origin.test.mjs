// The official `phoenix` client against a server started with CHECK_ORIGIN=//allowed.example (Phoenix's
// check_origin): a page from that origin connects, one from elsewhere is refused with HTTP 403 before
// the socket opens, and the Node client without an Origin header connects. Run by
// tests/my_app_web/channels/test_js_client.py.
import {test} from "node:test"
import assert from "node:assert/strict"
import WebSocket from "ws"
import {USERS, connect, join, newSocket, reply} from "./support.mjs"

const {alice} = USERS

// `ws` sends no Origin header unless told to; a browser always sends its page's.
function fromOrigin(origin){
  return class extends WebSocket {
    constructor(url, protocols){ super(url, protocols, {origin}) }
  }
}

async function pingsInTheLobby(socket){
  const channel = socket.channel("room:lobby")
  await join(channel)
  assert.deepEqual(await reply(channel.push("ping", {n: 1})), {status: "ok", response: {pong: true, n: 1}})
}

test("a page from an allowed origin connects and joins", async t => {
  await pingsInTheLobby(await connect(t, alice, {transport: fromOrigin("https://allowed.example")}))
})

test("a page from another origin is refused with 403: the socket never opens", async t => {
  const socket = newSocket(alice, {transport: fromOrigin("https://evil.example"), reconnectAfterMs: () => 60_000})
  t.after(() => new Promise(resolve => socket.disconnect(resolve)))
  let opened = false
  socket.onOpen(() => { opened = true })
  const failed = new Promise(resolve => socket.onError(resolve))
  socket.connect()
  const error = await failed
  assert.equal(opened, false)
  assert.match(String(error.message), /403/)
})

test("the Node client, sending no Origin header, connects and joins", async t => {
  await pingsInTheLobby(await connect(t, alice))
})
