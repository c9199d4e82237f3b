/** Counts the event-loop turns other work got (a setImmediate chain) while `work` ran: more than one means it yielded. */
export async function turnsDuring(work: Promise<unknown>): Promise<number> {
  let turns = 0;
  let running = true;
  const tick = (): void => {
    turns++;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  await work;
  running = false;
  return turns;
}
