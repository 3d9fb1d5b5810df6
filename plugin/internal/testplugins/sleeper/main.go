// Command sleeper never completes the handshake: it stands for a program
// that is not a plugin and does not exit.
package main

import "time"

func main() { time.Sleep(time.Hour) }
