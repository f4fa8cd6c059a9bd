/**
 * Where the appliance's inspection hook (`appliance run --inspect ids`) puts its copies: one stable interface,
 * whatever tunnels come and go. Named here for the appliance that makes it and for what sets engines up to
 * listen on it (the lab, the fleet's user data).
 */
export const MONITOR = 'gwlb-mon'
