export async function runScale(_options: { counts: string | undefined; stores: string | undefined; quick: boolean }): Promise<void> {
  throw new Error("not yet");
}
