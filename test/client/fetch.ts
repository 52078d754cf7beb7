// fetch for tests: one retry when a kept-alive connection was closed by the
// server just as it was reused (Node's server closes idle sockets after 5 s;
// undici may pick the socket at that instant and fail with "other side closed").

export async function fetchRetry(input: string | URL, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(input, init);
  } catch (e) {
    if (!(e instanceof TypeError)) throw e;
    return fetch(input, init);
  }
}
