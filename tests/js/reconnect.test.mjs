// The official `phoenix` client reconnects and rejoins after the server restarts.
//
// Coordination with tests/my_app_web/channels/test_js_client.py: once joined, this test creates
// `$PHX_SIGNAL_DIR/restart`; the Python side stops the server (SIGTERM) and starts it again on the
// same port. The client must notice the close, reconnect, rejoin room:lobby by itself, and pushes
// must work again.
import {test} from "node:test"
import assert from "node:assert/strict"
import {writeFileSync} from "node:fs"
import {join as joinPath} from "node:path"
import {Presence} from "phoenix"
import {USERS, connect, join, presentUsers, reply, waitFor} from "./support.mjs"

const {alice} = USERS
const SIGNAL_DIR = process.env.PHX_SIGNAL_DIR
// Close codes after which clients are expected to come back (issue: "never 1000").
const RECONNECT_CODES = [1001, 1012]

test("reconnects and rejoins after the server restarts", {skip: !SIGNAL_DIR && "PHX_SIGNAL_DIR is not set"}, async t => {
  const socket = await connect(t, alice)
  const closes = []
  let opens = 0
  socket.onClose(event => { closes.push({code: event.code, reason: event.reason, at: Date.now()}) })
  socket.onOpen(() => { opens++ })
  const channel = socket.channel("room:lobby")
  const presence = new Presence(channel)
  await join(channel)
  const firstJoinRef = channel.joinRef()
  assert.deepEqual(await reply(channel.push("ping", {n: 1})), {status: "ok", response: {pong: true, n: 1}})

  writeFileSync(joinPath(SIGNAL_DIR, "restart"), "RESTART\n")
  console.log("RESTART")

  await waitFor(() => closes.length > 0, 60_000, "the server to close the socket")
  const [{code, reason, at: closedAt}] = closes
  t.diagnostic(`the server closed the socket with code ${code} (${JSON.stringify(reason)})`)
  assert.ok(RECONNECT_CODES.includes(code), `close code ${code}: clients are asked to come back with 1001/1012`)

  await waitFor(
    () => channel.state === "joined" && channel.joinRef() !== firstJoinRef,
    60_000,
    `room:lobby rejoined (state ${channel.state})`,
  )
  const rejoinedAfter = Date.now() - closedAt
  assert.ok(opens >= 1)
  assert.deepEqual(await reply(channel.push("ping", {n: 2})), {status: "ok", response: {pong: true, n: 2}})
  await waitFor(
    () => Object.keys(presentUsers(presence)).join() === alice.id,
    5000,
    `alice in Presence.list() after the rejoin (has ${JSON.stringify(presentUsers(presence))})`,
  )
  t.diagnostic(`rejoined ${rejoinedAfter} ms after the close, after ${opens} reconnect(s)`)
})
