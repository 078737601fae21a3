console.log("citytwin")
